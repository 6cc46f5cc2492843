"""The event stream's live deltas (stores that keep model deltas out of the log, as DynamoStore does on AWS): a
delta written between the stream's two reads of one poll must still reach the client, ahead of its final message.

Deterministic version of a race the cloud e2e saw once in ~10 runs (26 of 27 deltas reached the client): the store
below has the writer finish the message (its last delta, then its final event) right after the stream's read of the
live deltas, which is the moment that lost the delta when the live deltas were read before the log."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from dexa.api import sse
from dexa.api.sse import EventHub, live_frames
from dexa.core.events import Event
from dexa.core.streaming import StreamConfig

pytestmark = pytest.mark.anyio
SID = "ses_live"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Notifier:
    async def wait(self, key: str, timeout: float) -> None:
        await asyncio.sleep(timeout)


class Store:
    """A log plus live deltas; the writer's next step runs right after each read of the live deltas."""

    def __init__(self) -> None:
        self.log: list[Event] = []
        self.live: list[tuple[str, Event]] = []
        self.writer = iter(
            [
                lambda: self._delta("one "),
                lambda: self._delta("two "),
                lambda: (self._delta("three"), self._final("one two three")),
            ]
        )

    def _delta(self, text: str) -> None:
        key = f"LIVE#{len(self.live) + 1:04d}"
        data = {"turn": 1, "message_id": "m1", "text": text}
        self.live.append((key, Event(session_id=SID, seq=0, type="message.delta", data=data, ts=0.0)))

    def _final(self, text: str) -> None:
        message = {"id": "m1", "role": "assistant", "content": [{"type": "text", "text": text}]}
        self.log.append(
            Event(session_id=SID, seq=len(self.log) + 1, type="message.assistant", data={"message": message}, ts=0.0)
        )

    async def live_cursor(self, session_id: str) -> str:
        return "LIVE#0000"

    async def read_events(self, session_id: str, *, after: int, limit: int) -> list[Event]:
        return [e for e in self.log if e.seq > after][:limit]

    async def read_live(self, session_id: str, *, after: str, limit: int = 200) -> list[tuple[str, Event]]:
        found = [(k, e) for k, e in self.live if k > after][:limit]
        step = next(self.writer, None)
        if step is not None:
            step()
        return found


async def test_a_delta_written_between_the_two_reads_of_a_poll_reaches_the_client_before_its_final() -> None:
    store = Store()
    hub = EventHub(Notifier())  # type: ignore[arg-type]
    cfg = StreamConfig(poll_s=0.01, max_s=0.5)
    seen: list[tuple[str, Any]] = []
    try:
        async for sse in live_frames(store, hub, SID, 0, cfg):  # type: ignore[arg-type]
            if sse.data is None:
                continue
            body = json.loads(sse.data)
            seen.append((body["type"], body["data"].get("text") or body["data"]["message"]["content"][0]["text"]))
            if body["type"] == "message.assistant":
                break
    finally:
        await hub.aclose()
    assert seen == [
        ("message.delta", "one "),
        ("message.delta", "two "),
        ("message.delta", "three"),
        ("message.assistant", "one two three"),
    ]


class Burst(Store):
    """Five deltas and their final message, all written before the stream's first poll (a stream that stalled)."""

    def __init__(self) -> None:
        super().__init__()
        self.writer = iter([])
        for text in ("a", "b", "c", "d", "e"):
            self._delta(text)
        self._final("abcde")

    async def read_live(self, session_id: str, *, after: str, limit: int = 2) -> list[tuple[str, Event]]:
        # At most `limit` per read, as DynamoStore reads them (200 there; 2 here, LIVE_BATCH patched to match).
        return [(k, e) for k, e in self.live if k > after][:limit]


async def test_more_deltas_than_one_read_returns_all_go_out_before_their_final(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sse, "LIVE_BATCH", 2)
    store = Burst()
    hub = EventHub(Notifier())  # type: ignore[arg-type]
    seen: list[str] = []
    try:
        async for frame in live_frames(store, hub, SID, 0, StreamConfig(poll_s=0.01, max_s=0.5)):  # type: ignore[arg-type]
            if frame.data is None:
                continue
            body = json.loads(frame.data)
            seen.append(body["data"].get("text") or "final")
            if body["type"] == "message.assistant":
                break
    finally:
        await hub.aclose()
    # One page only would send a, b, then the final, and drop c, d, e as deltas of a finished message.
    assert seen == ["a", "b", "c", "d", "e", "final"]
