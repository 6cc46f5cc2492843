"""Process checks for sandbox tests: which host processes carry a marker, and polling without fixed sleeps."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable


def processes_with(needle: str) -> list[int]:
    """Live (non-zombie) host pids whose command line contains `needle`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmdline = fh.read()
            with open(f"/proc/{entry}/stat", "rb") as fh:
                state = fh.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if needle.encode() in cmdline and state != b"Z":
            found.append(int(entry))
    return found


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll `predicate` until true or timeout; the event loop keeps running meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.01)
    return bool(predicate())
