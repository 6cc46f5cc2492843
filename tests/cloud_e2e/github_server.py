"""GitHub of the emulated deployment: dexa's FakeGitHub (git smart HTTP over real bare repositories + the REST
subset Dexa uses) as a process.

    python github_server.py --root DIR --token TOKEN --repo owner/name=FILES_JSON ...   # prints `listening on URL`

The deployment reaches it as it would reach github.com and api.github.com: through the `git_url` and `api_url` of
the GitHub token secret, set by the harness at run time. `GET /_fake/state` returns its pull requests, comments and
requests; the bare repositories are under DIR. A separate process, so the harness imports nothing from dexa.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
from pathlib import Path

import uvicorn

from dexa.adapters.github.fake import FakeGitHub


async def serve(fake: FakeGitHub) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    fake.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(fake.app(), log_level="warning", lifespan="off", access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    print(f"listening on {fake.base_url}", flush=True)
    await task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--token", required=True, help="a token the fake accepts (a PAT, as GITHUB_TOKEN would be)")
    parser.add_argument("--repo", action="append", default=[], help="owner/name=JSON object of path -> content")
    args = parser.parse_args()
    fake = FakeGitHub(root=args.root, static_tokens={args.token})
    for spec in args.repo:
        name, _, files = spec.partition("=")
        fake.add_repo(name, json.loads(files))
    asyncio.run(serve(fake))


if __name__ == "__main__":
    main()
