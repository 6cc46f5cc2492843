"""A small server-sent-events parser (the WHATWG rules the API relies on: id, event, data, retry, comments)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SseMessage:
    event: str
    data: str
    id: str | None
    retry: int | None


async def parse(lines: AsyncIterator[str]) -> AsyncIterator[SseMessage]:
    """Yield one message per blank-line-terminated block that has data or a retry; comments are skipped."""
    event, data, last_id, retry = "", [], None, None
    async for raw in lines:
        line = raw.rstrip("\r\n")
        if line == "":
            if data or retry is not None:
                yield SseMessage(event=event or "message", data="\n".join(data), id=last_id, retry=retry)
            event, data, retry = "", [], None
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id" and "\x00" not in value:
            last_id = value
        elif name == "retry" and value.isdigit():
            retry = int(value)
    if data:
        yield SseMessage(event=event or "message", data="\n".join(data), id=last_id, retry=retry)
