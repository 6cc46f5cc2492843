"""A local stand-in for the two Slack endpoints Dexa calls, shaped from Slack's documentation.

    POST /api/chat.postMessage   Authorization: Bearer <bot token>; JSON {channel, text, blocks}
        -> {"ok": true, "channel": ..., "ts": ..., "message": {...}}, or {"ok": false, "error": "not_authed" |
           "invalid_auth" | "channel_not_found" | "no_text"} (HTTP 200 either way, as Slack answers)
    POST /actions/<anything>     an interaction's response_url: JSON {text, response_type, replace_original} -> "ok"

Every accepted call is recorded (`posts`, `responses`; from another process: GET /_fake/posts, /_fake/responses).
Run it on 127.0.0.1 in-process (`SlackFake().start()`) or as a process
(`python -m dexa.testing.slack_fake --port 0 --token xoxb-test --channel C0REVIEW`: prints its URL).
"""

from __future__ import annotations

import argparse
import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class SlackFake:
    def __init__(self, *, token: str = "xoxb-test", channels: tuple[str, ...] = ("C0REVIEW",)) -> None:
        self.token, self.channels = token, set(channels)
        self.posts: list[dict[str, Any]] = []
        self.responses: list[dict[str, Any]] = []
        self._ts = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    def response_url(self, name: str = "1") -> str:
        return f"{self.url}/actions/{name}"

    def post_message(self, auth: str, body: dict[str, Any]) -> dict[str, Any]:
        if not auth.startswith("Bearer "):
            return {"ok": False, "error": "not_authed"}
        if auth.removeprefix("Bearer ") != self.token:
            return {"ok": False, "error": "invalid_auth"}
        channel = str(body.get("channel") or "")
        if channel not in self.channels:
            return {"ok": False, "error": "channel_not_found"}
        if not body.get("text") and not body.get("blocks"):
            return {"ok": False, "error": "no_text"}
        ts = f"1700000000.{next(self._ts):06d}"
        self.posts.append({**body, "ts": ts})
        message = {
            "type": "message",
            "subtype": "bot_message",
            "text": body.get("text", ""),
            "ts": ts,
            "bot_id": "B0DEXA",
            "blocks": body.get("blocks", []),
        }
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def start(self, port: int = 0) -> SlackFake:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def _reply(self, status: int, body: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # what a test in another process inspects
                views = {"/_fake/posts": fake.posts, "/_fake/responses": fake.responses}
                if self.path in views:
                    self._reply(200, json.dumps(views[self.path]).encode(), "application/json")
                else:
                    self._reply(404, b"{}", "application/json")

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {}
                if self.path == "/api/chat.postMessage":
                    out = fake.post_message(self.headers.get("Authorization", ""), body)
                    self._reply(200, json.dumps(out).encode(), "application/json; charset=utf-8")
                elif self.path.startswith("/actions/"):
                    fake.responses.append({"path": self.path, **body})
                    self._reply(200, b"ok", "text/plain")
                else:
                    self._reply(404, json.dumps({"ok": False, "error": "unknown_method"}).encode(), "application/json")

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self._server.serve_forever, name="slack-fake", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def main() -> None:
    parser = argparse.ArgumentParser(description="A local Slack stand-in for Dexa's tests")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default="xoxb-test")
    parser.add_argument("--channel", action="append", default=None)
    args = parser.parse_args()
    fake = SlackFake(token=args.token, channels=tuple(args.channel or ["C0REVIEW"])).start(args.port)
    print(fake.url, flush=True)  # the caller reads the URL from stdout
    threading.Event().wait()


if __name__ == "__main__":
    main()
