"""The Slack Web API of the emulated deployment: dexa's Slack stand-in (dexa.testing.slack_fake) as a process.

    python slack_server.py --token xoxb-... --channel C0... [--port 0]      # prints `listening on URL`

The deployment reaches it as it would reach https://slack.com/api: through the `api_url` of the Slack bot token
secret, set by the harness at run time. `GET /_fake/posts` and `/_fake/responses` show what it received. A separate
process, so the harness itself imports nothing from dexa.
"""

from __future__ import annotations

import argparse
import threading

from dexa.testing.slack_fake import SlackFake


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", required=True)
    parser.add_argument("--channel", action="append", required=True)
    args = parser.parse_args()
    fake = SlackFake(token=args.token, channels=tuple(args.channel)).start(args.port)
    print(f"listening on {fake.url}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
