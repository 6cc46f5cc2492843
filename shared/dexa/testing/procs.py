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


def processes_marked(needle: str, *, environ: bool = False) -> list[int]:
    """Live (non-zombie) pids other than this one whose command line, or with `environ` also whose environment,
    contains `needle`: how leftover tests find every process a run started, sandboxed or not."""
    found = set(processes_with(needle))
    if environ:
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) in found:
                continue
            try:
                with open(f"/proc/{entry}/environ", "rb") as fh:
                    env = fh.read()
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    state = fh.read().rsplit(b")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if needle.encode() in env and state != b"Z":
                found.add(int(entry))
    found.discard(os.getpid())
    return sorted(found)


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll `predicate` until true or timeout; the event loop keeps running meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.01)
    return bool(predicate())
