"""Environment variables a deployment supplies when they are first needed instead of at start-up.

A cold Lambda that reads a secret it may never use pays a Secrets Manager client and a round trip for nothing (the
API's first request needs no Modal token). The entry registers how to fill such variables; the code that needs them
calls `fill` first. Core knows only the names and the loaders, not where their values come from.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Mapping

_lock = threading.Lock()
_loaders: dict[str, Callable[[], None]] = {}
_supplied: set[str] = set()  # names whose loader has run


def register(names: Iterable[str], load: Callable[[], None]) -> None:
    """`load` puts `names` into os.environ; it runs at most once, at the first `fill` of any of them."""
    with _lock:
        for name in names:
            _loaders[name] = load


def lookup(name: str, env: Mapping[str, str]) -> str:
    """`env`'s value of `name`; else, for a name supplied on demand, os.environ's once its loader has run (`env`
    may be a snapshot taken before, like the runtime's). "" when neither has one."""
    value = env.get(name, "")
    if value:
        return value
    fill((name,))
    return os.environ.get(name, "") if env is os.environ or name in _supplied else ""


def fill(names: Iterable[str]) -> None:
    """Run the loaders of those `names` not yet in os.environ (each loader once; a failing one is not retried,
    so a missing secret costs one read and then the caller's own clear error)."""
    wanted = [n for n in names if not os.environ.get(n)]
    if not wanted:
        return
    with _lock:
        loads: list[Callable[[], None]] = []
        for name in wanted:
            load = _loaders.get(name)
            if load is not None and load not in loads:
                loads.append(load)
        for load in loads:
            for name in [n for n, fn in _loaders.items() if fn is load]:
                del _loaders[name]
                _supplied.add(name)
        for load in loads:
            load()
