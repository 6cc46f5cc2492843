"""A request-body ceiling enforced before anything else runs (authentication included).

Pure ASGI, not a BaseHTTPMiddleware: it must see the body as it streams in. A declared Content-Length over the
limit is answered at once without reading a byte; a chunked or lying body is counted as it is received and cut off
with a 413 the moment it passes the limit, so an unauthenticated 300 MB upload costs the server at most the limit.
"""

from __future__ import annotations

import json
from typing import Any, Final

from .problems import PROBLEM_MEDIA_TYPE

DEFAULT_MAX_BODY_BYTES: Final = 10 * 1024 * 1024

Scope = dict[str, Any]
Message = dict[str, Any]


def _problem(limit: int) -> bytes:
    return json.dumps(
        {
            "type": "about:blank",
            "title": "Content too large",
            "status": 413,
            "code": "body_too_large",
            "detail": f"request body exceeds the server's limit of {limit} bytes (DEXA_MAX_BODY_BYTES)",
        }
    ).encode()


class BodyLimitMiddleware:
    def __init__(self, app: Any, *, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _reject(self, send: Any) -> None:
        body = _problem(self.max_bytes)
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = self.max_bytes + 1  # unparseable: refuse rather than trust the stream
                if declared > self.max_bytes:
                    await self._reject(send)
                    return
        seen = 0
        started = False
        refused = False

        async def counted_receive() -> Message:
            # Past the limit: answer 413 here and tell the app the client left, so it stops reading; whatever the
            # app then tries to send is dropped.
            nonlocal seen, refused, started
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    refused = True
                    if not started:
                        started = True
                        await self._reject(send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not refused:
                raise
