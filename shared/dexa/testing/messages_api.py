"""A loopback server speaking the Anthropic Messages API, driven by a model script.

Good enough for the real `anthropic` SDK (first-party and Bedrock clients) and the Claude Code CLI:

    POST /v1/messages                 JSON, or SSE when `"stream": true` (exact API event order)
    POST /v1/messages/count_tokens    {"input_tokens": N}
    GET  /v1/models                   a short model list
    POST /model/{id}/invoke[-with-response-stream]   Bedrock shape (AWS event-stream frames)
    GET  /_dexa/requests              every recorded request: method, path, headers, body
    POST /_dexa/reset                 forget recorded requests, served errors and the prompt cache

Any API key is accepted. Turns are chosen statelessly from the request history (`dexa.testing.script`).

    with serve(Script.load("demo.json")) as server:
        client = anthropic.AsyncAnthropic(base_url=server.url, api_key="x")

CLI: `python -m dexa.testing.messages_api --script FILE [--port N]` prints `listening on URL`.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from .fake_responses import (
    Json,
    count_tokens,
    encode_event_frame,
    error_body,
    render_message,
    scripted_error_body,
    sse_events,
    turn_index,
    validate,
)
from .script import ErrorCounter, Script, ScriptedError

logger = logging.getLogger(__name__)

_BEDROCK_PATH = re.compile(r"^/model/(?P<model>[^/]+)/(?P<op>invoke|invoke-with-response-stream)$")
_MODELS = ("claude-sonnet-5", "claude-opus-5", "claude-haiku-4-5")


class FakeMessagesServer:
    """A running fake. Use as a context manager, or call `close()`."""

    def __init__(self, script: Script, host: str = "127.0.0.1", port: int = 0) -> None:
        self.script = script
        self.host = "127.0.0.1" if host in ("", "0.0.0.0") else host
        self.errors = ErrorCounter()
        self.prompt_cache: dict[str, int] = {}
        self._recorded: list[Json] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((host, port), _Handler)
        self._httpd.fake = self  # type: ignore[attr-defined]
        # A short poll interval makes close() quick; tests start and stop many servers.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-messages-api", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def requests(self) -> list[Json]:
        """Recorded requests (oldest first), excluding the `/_dexa/*` control routes."""
        with self._lock:
            return list(self._recorded)

    def message_requests(self) -> list[Json]:
        """Bodies of the recorded model calls (first-party and Bedrock)."""
        return [
            r["body"]
            for r in self.requests
            if r["path"].startswith(("/v1/messages", "/model/")) and "count_tokens" not in r["path"]
        ]

    def record(self, entry: Json) -> None:
        with self._lock:
            self._recorded.append(entry)

    def reset(self) -> None:
        with self._lock:
            self._recorded.clear()
            self.prompt_cache.clear()
        self.errors.reset()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeMessagesServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def serve(script: Script | str | Path, host: str = "127.0.0.1", port: int = 0) -> FakeMessagesServer:
    """Start the fake on a background thread; `port=0` picks a free port (see `.url`)."""
    loaded = script if isinstance(script, Script) else Script.load(script)
    return FakeMessagesServer(loaded, host=host, port=port)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Frees threads held by idle keep-alive connections.
    timeout = 60
    # Many small SSE writes: without TCP_NODELAY each waits ~40 ms on the client's delayed ACK.
    disable_nagle_algorithm = True
    server_version = "dexa-fake-messages/1"

    @property
    def fake(self) -> FakeMessagesServer:
        return self.server.fake  # type: ignore[attr-defined, no-any-return]

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("fake messages api: %s", format % args)

    def do_HEAD(self) -> None:
        self._send_json(200, {}, head=True)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/_dexa/requests":
            self._send_json(200, {"requests": self.fake.requests})
            return
        self._record(None)
        if path == "/v1/models":
            data = [
                {"type": "model", "id": m, "display_name": m, "created_at": "2026-01-01T00:00:00Z"} for m in _MODELS
            ]
            self._send_json(200, {"data": data, "has_more": False, "first_id": _MODELS[0], "last_id": _MODELS[-1]})
            return
        self._send_json(404, error_body("not_found_error", f"Not found: {path}"))

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        if path == "/_dexa/reset":
            self.fake.reset()
            self._send_json(200, {"ok": True})
            return
        try:
            body: Any = json.loads(raw or b"null")
        except json.JSONDecodeError as exc:
            self._record(None)
            self._send_json(400, error_body("invalid_request_error", f"request body is not valid JSON: {exc}"))
            return
        self._record(body)
        bedrock = _BEDROCK_PATH.match(path)
        if path == "/v1/messages/count_tokens":
            self._send_json(200, {"input_tokens": count_tokens(body)})
        elif path == "/v1/messages":
            self._messages(body, stream=bool(isinstance(body, dict) and body.get("stream")), model=None, bedrock=False)  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
        elif bedrock is not None:
            stream = bedrock.group("op") == "invoke-with-response-stream"
            model = urllib.parse.unquote(bedrock.group("model"))
            self._messages(body, stream=stream, model=model, bedrock=True)
        else:
            self._send_json(404, error_body("not_found_error", f"Not found: {path}"))

    def _messages(self, body: Any, *, stream: bool, model: str | None, bedrock: bool) -> None:
        problem = validate(body)
        if problem is not None:
            self._send_error(ScriptedError(status=400, message=problem), bedrock=bedrock)
            return
        index = turn_index(body)
        script = self.fake.script.for_request(body)
        error = self.fake.errors.take(index, script.errors_at(index))
        if error is not None and not (error.mid_stream and stream):
            self._send_error(error, bedrock=bedrock)
            return
        if index >= len(script.turns):
            message = (
                f"dexa fake: script {script.source} has {len(script.turns)} turn(s); history asks for #{index + 1}"
            )
            self._send_error(ScriptedError(status=400, message=message), bedrock=bedrock)
            return
        message = render_message(script, index, body, cache=self.fake.prompt_cache, model=model)
        if not stream:
            self._send_json(200, message)
            return
        self._stream(message, script, index, error, bedrock=bedrock)

    def _stream(self, message: Json, script: Script, index: int, error: ScriptedError | None, *, bedrock: bool) -> None:
        turn = script.turns[index]
        self.send_response(200)
        content_type = "application/vnd.amazon.eventstream" if bedrock else "text/event-stream; charset=utf-8"
        self.send_header("content-type", content_type)
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("request-id", str(message["id"]).replace("msg_", "req_"))
        self.end_headers()
        try:
            for name, data, pause in sse_events(message, turn, error):
                if pause and turn.delay_ms:
                    time.sleep(turn.delay_ms / 1000)
                if bedrock:
                    if name == "ping":
                        continue
                    self._chunk(encode_event_frame(data))
                else:
                    self._chunk(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
            self._chunk(b"")
        except (BrokenPipeError, ConnectionResetError):
            logger.debug("client went away mid-stream")
            self.close_connection = True

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _send_error(self, error: ScriptedError, *, bedrock: bool) -> None:
        headers: dict[str, str] = {}
        if error.retry_after is not None:
            headers["retry-after"] = f"{error.retry_after:g}"
        if bedrock:
            headers["x-amzn-errortype"] = "ThrottlingException" if error.status == 429 else error.error_type
            self._send_json(error.status, {"message": error.error_message}, headers=headers)
            return
        self._send_json(error.status, scripted_error_body(error), headers=headers)

    def _send_json(
        self, status: int, payload: Json, *, headers: dict[str, str] | None = None, head: bool = False
    ) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(data)

    def _record(self, body: Any) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.fake.record({"method": self.command, "path": self.path, "headers": headers, "body": body})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dexa.testing.messages_api", description="Loopback Anthropic Messages API fake."
    )
    parser.add_argument("--script", required=True, help="model script JSON file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)
    try:
        server = serve(args.script, host=args.host, port=args.port)
    except Exception as exc:  # CLI entry point: report, do not trace
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"listening on {server.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
