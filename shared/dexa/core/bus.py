"""In-process wake-ups for event readers (SSE, attached CLIs) and parked turns.

The store is the source of truth; the bus only shortens the wait. Readers always re-read the store after a wake-up,
so a missed notification costs latency, never correctness.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict


class Notifier:
    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Event]] = defaultdict(set)

    def notify(self, key: str) -> None:
        for ev in list(self._waiters.get(key, ())):
            ev.set()

    async def wait(self, key: str, timeout: float) -> bool:
        """Wait for the next notify(key) or the timeout; True when notified."""
        ev = asyncio.Event()
        self._waiters[key].add(ev)
        try:
            await asyncio.wait_for(ev.wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            waiters = self._waiters.get(key)
            if waiters is not None:
                waiters.discard(ev)
                if not waiters:
                    self._waiters.pop(key, None)
