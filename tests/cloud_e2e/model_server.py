"""The model endpoint of the emulated deployment: dexa's loopback Messages API fake, one per model script.

    python model_server.py --scripts DIR      # prints `listening on URL`

A deployment has one model base URL (in the stack's model secret), while scenarios need different scripts. So
this process runs one `dexa.testing.messages_api` server per `DIR/*.json` script and routes each request to the
one named by a `[script:NAME]` tag in the conversation's first user message, passing the response through
unchanged (streamed SSE included). This is a separate process: the harness itself imports nothing from dexa.

`GET /_e2e/requests/NAME` returns what the NAME server recorded. `GET /_e2e/sent/NAME` returns each streamed text
delta of NAME's responses with the time.time() at which this process wrote it to the caller (the model "sending" it:
what delta latency is measured from).
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

TAG = re.compile(r"\[script:([A-Za-z0-9_.-]+)\]")


def first_user_text(body: Any) -> str:
    for message in (body or {}).get("messages", []):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        return " ".join(b.get("text", "") for b in content or [] if isinstance(b, dict))
    return ""


def text_deltas(frames: list[bytes]) -> list[str]:
    """The text of each `content_block_delta` text_delta among complete SSE frames."""
    texts: list[str] = []
    for raw in frames:
        for line in raw.decode(errors="replace").splitlines():
            if not line.startswith("data:"):
                continue
            try:
                data = json.loads(line[5:])
            except ValueError:
                continue
            delta = data.get("delta") if isinstance(data, dict) else None
            if isinstance(delta, dict) and delta.get("type") == "text_delta":
                texts.append(str(delta.get("text", "")))
    return texts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scripts", required=True, type=Path)
    args = parser.parse_args(argv)

    from dexa.testing.messages_api import serve

    servers = {path.stem: serve(path) for path in sorted(args.scripts.glob("*.json"))}
    sent: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}

    class Router(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, format: str, *a: Any) -> None:
            pass

        def _json(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.startswith("/_e2e/sent/"):
                name = self.path.rsplit("/", 1)[1]
                self._json(200 if name in sent else 404, {"sent": sent.get(name, [])})
                return
            if self.path.startswith("/_e2e/requests/"):
                server = servers.get(self.path.rsplit("/", 1)[1])
                if server is None:
                    self._json(404, {"error": "no such script"})
                    return
                self._json(200, {"requests": server.requests})
                return
            self._json(404, {"type": "error", "error": {"type": "not_found_error", "message": self.path}})

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            try:
                body = json.loads(raw or b"null")
            except json.JSONDecodeError:
                body = None
            match = TAG.search(first_user_text(body))
            script = match.group(1) if match else ""
            server = servers.get(script)
            if server is None:
                message = f"e2e model: no [script:NAME] tag naming one of {sorted(servers)} in the first user message"
                self._json(400, {"type": "error", "error": {"type": "invalid_request_error", "message": message}})
                return
            upstream = http.client.HTTPConnection(urlsplit(server.url).netloc, timeout=120)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
            upstream.request("POST", self.path, body=raw, headers=headers)
            response = upstream.getresponse()
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in ("transfer-encoding", "content-length", "connection"):
                    self.send_header(key, value)
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            pending = b""
            while True:
                chunk = response.read1(65536)
                if not chunk:
                    break
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.flush()
                at = time.time()
                pending += chunk
                *frames, pending = pending.split(b"\n\n")
                sent[script].extend({"text": text, "at": at} for text in text_deltas(frames))
            self.wfile.write(b"0\r\n\r\n")
            upstream.close()

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Router)
    httpd.daemon_threads = True
    print(f"listening on http://127.0.0.1:{httpd.server_address[1]}", flush=True)
    try:
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
