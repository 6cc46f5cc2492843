"""Turns run on their own event loop thread, so the HTTP loop stays responsive under load.

A turn step runs many store writes without yielding; with 100 busy sessions on the HTTP loop, an SSE reader woken by
a new event queues behind every other session's step. On a separate loop the engine's CPU work and the HTTP work
share the GIL by time slices (5 ms), so delivery latency no longer grows with the number of running turns. It also
matches the cloud shape, where turns run in Step Functions and the API only reads the log.

Rule: the engine, the driver and the session environments are touched only on the worker loop (`TurnWorker.call`).
The store is thread-safe (SQLite adapter serialises on a lock), and `ThreadSafeNotifier` wakes waiters on whichever
loop they wait on.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from dexa.core import tracing
from dexa.core.bus import Notifier

P = ParamSpec("P")
T = TypeVar("T")


class ThreadSafeNotifier(Notifier):
    """A Notifier whose notify() may be called from any thread and wakes waiters on their own loops."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._by_key: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}

    def notify(self, key: str) -> None:
        with self._lock:
            waiters = list(self._by_key.get(key, ()))
        try:
            current: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        for loop, ev in waiters:
            if loop is current:
                ev.set()
            elif not loop.is_closed():
                loop.call_soon_threadsafe(ev.set)

    async def wait(self, key: str, timeout: float) -> bool:
        entry = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._by_key.setdefault(key, set()).add(entry)
        try:
            await asyncio.wait_for(entry[1].wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            with self._lock:
                waiters = self._by_key.get(key)
                if waiters is not None:
                    waiters.discard(entry)
                    if not waiters:
                        self._by_key.pop(key, None)


class TurnWorker:
    """One background thread running an asyncio loop for the engine and its driver."""

    def __init__(self, name: str = "dexa-turns") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    async def call(self, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn(*args, **kwargs)` on the worker loop and await its result from the caller's loop."""

        # The worker loop has its own context: the caller's trace (its request span) is handed over explicitly.
        traceparent = tracing.tracer().traceparent()

        async def run() -> T:
            with tracing.continue_from(traceparent):
                return await fn(*args, **kwargs)

        future = asyncio.run_coroutine_threadsafe(run(), self.loop)
        return await asyncio.wrap_future(future)

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        self.loop.call_soon_threadsafe(fn, *args)

    def stop(self, timeout: float = 10.0) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self.loop.close()
