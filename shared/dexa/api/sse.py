"""Session events as server-sent events: `id:` is the seq, so Last-Event-ID resumes exactly.

The store is the truth. The hub only shortens the wait: one watcher per watched session turns the engine's
notifications into wake-ups for every connected reader, and readers re-read the store on every wake-up, so a lost
notification costs at most `poll_s` of latency (which is also how appends from other processes are picked up).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from dexa.core.bus import Notifier
from dexa.core.events import Event
from dexa.core.ports import EventLog
from dexa.core.streaming import StreamConfig as StreamConfig  # re-exported: the API's callers know it here

if TYPE_CHECKING:
    # Imported where a frame is made: sse_starlette's package imports uvicorn and click (~40 ms of a cold start),
    # and most requests stream nothing.
    from sse_starlette.event import ServerSentEvent

logger = logging.getLogger(__name__)

BATCH = 500
LIVE_BATCH = 200  # live deltas per read (a poll reads pages until a short one)


class EventHub:
    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier
        self._subscribers: dict[str, set[asyncio.Event]] = {}
        self._watchers: dict[str, asyncio.Task[None]] = {}

    async def _watch(self, session_id: str) -> None:
        key = f"events:{session_id}"
        while True:
            await self.notifier.wait(key, 30.0)
            # set() and the next wait() registration run without an await in between, so no notify is lost
            # between two waits: anything notified meanwhile finds the readers' events already set.
            for ev in self._subscribers.get(session_id, ()):
                ev.set()

    @contextlib.asynccontextmanager
    async def subscribe(self, session_id: str) -> AsyncIterator[asyncio.Event]:
        wake = asyncio.Event()
        subs = self._subscribers.setdefault(session_id, set())
        subs.add(wake)
        if session_id not in self._watchers:
            self._watchers[session_id] = asyncio.create_task(self._watch(session_id), name=f"dexa-sse-{session_id}")
            # Let the watcher register with the notifier before the reader's first store read.
            await asyncio.sleep(0)
        try:
            yield wake
        finally:
            subs.discard(wake)
            if not subs:
                self._subscribers.pop(session_id, None)
                task = self._watchers.pop(session_id, None)
                if task is not None:
                    # Not awaited: this runs while the reader itself may be cancelled (client gone).
                    task.cancel()

    async def aclose(self) -> None:
        for task in list(self._watchers.values()):
            task.cancel()
        await asyncio.gather(*self._watchers.values(), return_exceptions=True)
        self._watchers.clear()


def frame(event: Event) -> ServerSentEvent:
    from sse_starlette.event import ServerSentEvent

    return ServerSentEvent(data=json.dumps(event.to_dict(), separators=(",", ":")), event=event.type, id=str(event.seq))


def live_frame(event: Event, cursor: int) -> ServerSentEvent:
    """A model delta that is not in the log (a store with read_live): flagged `live`, numbered with the last logged
    seq, so Last-Event-ID still resumes from the log and seq-ordered clients can tell it apart."""
    from sse_starlette.event import ServerSentEvent

    body = {**event.to_dict(), "seq": cursor, "live": True}
    return ServerSentEvent(data=json.dumps(body, separators=(",", ":")), event=event.type, id=str(cursor))


def _message_id(event: Event) -> str | None:
    message = event.data.get("message") if event.type == "message.assistant" else None
    return str(message.get("id")) if isinstance(message, dict) else None  # pyright: ignore[reportUnknownMemberType]


async def _wait(wake: asyncio.Event, timeout: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wake.wait(), timeout)


async def live_frames(
    log: EventLog, hub: EventHub, session_id: str, after: int, cfg: StreamConfig
) -> AsyncIterator[ServerSentEvent]:
    """Every event after `after`, then new ones as they are appended; ends with `retry:` after cfg.max_s."""
    from sse_starlette.event import ServerSentEvent

    loop = asyncio.get_running_loop()
    deadline = None if cfg.max_s is None else loop.time() + cfg.max_s
    # Stores that keep model deltas out of the log (DynamoStore with live deltas) are read for them as well, from
    # this connection's start: the cursor is taken before the first frame, so a client that has read a frame gets
    # every delta written after it. A delta read after its final message was sent is dropped.
    read_live = getattr(log, "read_live", None)
    live_at: str = await log.live_cursor(session_id) if read_live is not None else ""  # type: ignore[attr-defined]
    yield ServerSentEvent(retry=cfg.retry_ms)
    finished: set[str] = set()
    async with hub.subscribe(session_id) as wake:
        cursor = after
        while True:
            wake.clear()
            events = await log.read_events(session_id, after=cursor, limit=BATCH)
            if read_live is not None:
                # Read after the log, sent before it: a message's deltas are all written before its final event, so
                # those of a final in `events` are all here and go out ahead of it. (Read the other way round, a
                # delta written between the two reads came after its final and was dropped.) Every page of them:
                # a final in `events` drops the deltas of its message that a later poll would read.
                while True:
                    found = await read_live(session_id, after=live_at, limit=LIVE_BATCH)
                    for key, ev in found:
                        live_at = key
                        if ev.data.get("message_id") not in finished:
                            yield live_frame(ev, cursor)
                    if len(found) < LIVE_BATCH:
                        break
            for ev in events:
                cursor = ev.seq
                if (done := _message_id(ev)) is not None:
                    finished.add(done)
                yield frame(ev)
            if len(events) == BATCH:
                continue
            remaining = cfg.poll_s if deadline is None else min(cfg.poll_s, deadline - loop.time())
            if remaining <= 0:
                yield ServerSentEvent(retry=cfg.retry_ms)
                return
            await _wait(wake, remaining)


async def poll_body(
    log: EventLog, hub: EventHub, session_id: str, after: int, *, wait_s: float, cfg: StreamConfig, limit: int = 1000
) -> bytes:
    """What is available now (long-polling up to wait_s when nothing is), then `retry:`; the client reconnects."""
    from sse_starlette.event import ServerSentEvent

    events = await log.read_events(session_id, after=after, limit=limit)
    if not events and wait_s > 0:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        async with hub.subscribe(session_id) as wake:
            while not events and (left := deadline - loop.time()) > 0:
                wake.clear()
                events = await log.read_events(session_id, after=after, limit=limit)
                if not events:
                    await _wait(wake, min(cfg.poll_s, left))
        # Let the cancelled watcher finish on this loop: Mangum returns as soon as the response is sent, and a
        # task left pending is destroyed with an error log on every long-poll.
        await asyncio.sleep(0)
    parts = [frame(ev).encode() for ev in events]
    parts.append(ServerSentEvent(retry=cfg.retry_ms).encode())
    return b"".join(parts)
