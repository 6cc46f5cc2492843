"""DexaClient.events over a real socket, against a stream cut and re-chunked the way proxies and dropped
connections deliver it: CRLF line ends, frames split mid-line, comments, `retry:`, data over several lines, and a
connection that ends inside a frame (that frame is discarded, as the SSE spec says, and fetched again)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from dexa.client import DexaClient
from dexa.core.errors import ConfigError
from dexa.testing.loopback import serve_asgi


def _event(seq: int) -> str:
    return json.dumps({"session_id": "ses_1", "seq": seq, "type": f"t{seq}", "data": {"n": seq}, "ts": 1.0})


class _Stream:
    """An ASGI app answering GET /sessions/ses_1/events; records each request's Last-Event-ID."""

    def __init__(self, content_type: str = "text/event-stream") -> None:
        self.content_type = content_type
        self.last_ids: list[str | None] = []

    def chunks(self, last_id: str | None) -> list[str]:
        if last_id == "0":
            return [
                "retry: 10\r\n\r\n: heartbeat\r\n\r\n",
                "id: 1\r\nevent: t1\r\nda",
                f"ta: {_event(1)}\r\n\r\n",
                f"id: 2\r\nevent: t2\r\ndata: {_event(2)[:20]}",  # the connection ends inside this frame
            ]
        first, rest = _event(2).split(",", 1)
        return [f"id: 2\nevent: t2\ndata: {first},\ndata: {rest}\n\n", f"id: 3\ndata: {_event(3)}\n\n"]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = dict(scope["headers"])
        last_id = headers.get(b"last-event-id", b"").decode() or None
        self.last_ids.append(last_id)
        content_type = self.content_type.encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", content_type)]})
        for chunk in self.chunks(last_id):
            await send({"type": "http.response.body", "body": chunk.encode(), "more_body": True})
            await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def test_events_survive_rechunking_and_a_connection_cut_inside_a_frame() -> None:
    stream = _Stream()

    async def main() -> list[int]:
        async with serve_asgi(stream) as url, DexaClient(url, "tok") as client:
            seen = []
            async for ev in client.events("ses_1"):
                seen.append(ev.seq)
                assert ev.data == {"n": ev.seq}
                if ev.seq == 3:
                    break
            return seen

    assert asyncio.run(main()) == [1, 2, 3]
    assert stream.last_ids == ["0", "1"]  # resumed after the last whole event


def test_a_page_that_is_not_an_event_stream_is_a_config_error_naming_the_server() -> None:
    async def main() -> None:
        async with serve_asgi(_Stream(content_type="text/html")) as url, DexaClient(url, "tok") as client:
            with pytest.raises(ConfigError, match="event stream"):
                await anext(aiter(client.events("ses_1")))

    asyncio.run(main())
