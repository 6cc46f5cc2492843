"""Who drives a session: one driver at a time, across every process that shares the store.

Two `dexa serve` processes on one DEXA_HOME (or a server and `dexa run`) must not both walk the same turn: its
tools would run twice. A claim is a key-value record per (session, generation) written with put-if-absent, so taking
a session over is a compare-and-swap on the next generation number, which every Store supports (SQLite locally,
DynamoDB in the cloud) without a new port. The highest generation is the current claim. It is free once released,
or once its owner is gone:
  - a driver in this process that was closed or garbage-collected;
  - another process on this machine that no longer runs (pid and its start time, so a reused pid is not "alive");
  - an owner on another machine whose heartbeat is older than the TTL (the driver renews while it works).
A killed server leaves its claim behind, and the next server takes it over at once because the pid is dead.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import time
import uuid
import weakref
from collections.abc import Callable
from typing import Any

from .ports import KeyValueStore

logger = logging.getLogger(__name__)

NAMESPACE = "session_claims"
TTL_S = 900.0  # only for owners on another machine; long, because a step (a Bash call) may run for minutes
RENEW_S = 60.0

# Claim holders of this process still open: a claim whose holder is in this process counts as alive only here.
_OPEN_HOLDERS: set[str] = set()


@functools.cache
def _host_id() -> str:
    """This machine, as the kernel sees it: the hostname alone repeats across containers and reboots."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as fh:
            boot = fh.read().strip()
    except OSError:
        boot = ""
    return f"{socket.gethostname()}/{boot}"


def _proc_start(pid: int) -> str | None:
    """A process's start time (clock ticks since boot), '' where /proc is missing, None when it does not run."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            stat = fh.read()
    except FileNotFoundError:
        if not os.path.isdir("/proc/self"):
            return _kill0(pid)
        return None
    except OSError:
        return _kill0(pid)
    # The command name may hold spaces and parentheses; the fields after the last ')' are fixed (starttime: 22nd).
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else ""


def _kill0(pid: int) -> str | None:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # it exists, owned by someone else
        return ""
    return ""


def owner_alive(doc: dict[str, Any], *, now: float, ttl_s: float = TTL_S) -> bool:
    """Whether the holder of this claim record may still be driving the session."""
    if doc.get("released"):
        return False
    if doc.get("host") != _host_id():
        return now - float(doc.get("renewed_at", 0.0)) < ttl_s
    pid = int(doc.get("pid", 0))
    if pid == os.getpid() and doc.get("started") == _proc_start(pid):
        return str(doc.get("holder")) in _OPEN_HOLDERS
    started = _proc_start(pid)
    if started is None:
        return False
    # Without a recorded (or readable) start time, a running pid is taken as the owner: the safe side.
    return not doc.get("started") or not started or started == doc.get("started")


class SessionClaims:
    """The claims one driver holds. `acquire` before driving a session, `release` when the run ends."""

    def __init__(
        self,
        kv: KeyValueStore,
        *,
        ttl_s: float = TTL_S,
        renew_s: float = RENEW_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.kv = kv
        self.ttl_s = ttl_s
        self.renew_s = renew_s
        self.clock = clock
        self.holder = uuid.uuid4().hex
        self._held: dict[str, tuple[int, float]] = {}  # session id -> (generation, last renewal)
        _OPEN_HOLDERS.add(self.holder)
        # A driver dropped without close() (a test, a crashed loop) must not keep its sessions claimed forever.
        self._finalizer = weakref.finalize(self, _OPEN_HOLDERS.discard, self.holder)

    def _record(self, session_id: str, gen: int, **extra: Any) -> dict[str, Any]:
        pid = os.getpid()
        now = self.clock()
        return {
            "session_id": session_id,
            "gen": gen,
            "holder": self.holder,
            "host": _host_id(),
            "pid": pid,
            "started": _proc_start(pid) or "",
            "claimed_at": now,
            "renewed_at": now,
            **extra,
        }

    @staticmethod
    def _key(session_id: str, gen: int) -> str:
        return f"{session_id}:{gen:012d}"

    async def _records(self, session_id: str) -> list[dict[str, Any]]:
        docs = await self.kv.kv_list(NAMESPACE, prefix=f"{session_id}:")
        return sorted((d for d in docs if d.get("session_id") == session_id), key=lambda d: int(d["gen"]))

    async def current(self, session_id: str) -> dict[str, Any] | None:
        """The newest claim record of a session (held or not), or None when nobody ever drove it."""
        docs = await self._records(session_id)
        return docs[-1] if docs else None

    async def acquire(self, session_id: str) -> bool:
        """Claim the session for this driver. False when a live owner holds it or another claimant won the race."""
        docs = await self._records(session_id)
        top = docs[-1] if docs else None
        if top is not None and top.get("holder") == self.holder and not top.get("released"):
            return True
        if top is not None and owner_alive(top, now=self.clock(), ttl_s=self.ttl_s):
            return False
        gen = int(top["gen"]) + 1 if top is not None else 1
        if not await self.kv.kv_put_if_absent(NAMESPACE, self._key(session_id, gen), self._record(session_id, gen)):
            return False
        # A stale read may have offered a generation that was already superseded and cleaned up; the newest wins.
        after = await self._records(session_id)
        if after and int(after[-1]["gen"]) > gen:
            await self.kv.kv_delete(NAMESPACE, self._key(session_id, gen))
            return False
        for old in after:
            if int(old["gen"]) < gen:
                await self.kv.kv_delete(NAMESPACE, self._key(session_id, int(old["gen"])))
        if top is not None and not top.get("released"):
            logger.info("took over session %s from a driver that is gone (pid %s)", session_id, top.get("pid"))
        self._held[session_id] = (gen, self.clock())
        return True

    async def renew(self, session_id: str) -> None:
        """Refresh the heartbeat now and then, for claimants on another machine (same-host ones check the pid)."""
        held = self._held.get(session_id)
        if held is None or self.clock() - held[1] < self.renew_s:
            return
        gen, _ = held
        await self.kv.kv_put(NAMESPACE, self._key(session_id, gen), self._record(session_id, gen))
        self._held[session_id] = (gen, self.clock())

    async def release(self, session_id: str) -> None:
        held = self._held.pop(session_id, None)
        if held is None:
            return
        gen, _ = held
        # Kept (marked released), not deleted: the record carries the generation the next claimant builds on.
        await self.kv.kv_put(NAMESPACE, self._key(session_id, gen), self._record(session_id, gen, released=True))

    def holds(self, session_id: str) -> bool:
        return session_id in self._held

    def close(self) -> None:
        """This driver stops: whatever it still holds becomes free for the next one."""
        self._finalizer()
