"""A sandbox launch is watched through a pidfd on the event loop (no watcher thread per command), with a thread only
where pidfds are missing; either way wait() gives the exit status, negative for a signal, as asyncio's does."""

from __future__ import annotations

import asyncio
import os
import signal
import threading

import pytest

from dexa.adapters.local_sandbox.process import spawn


def _run(argv: list[str], *, kill: bool = False) -> tuple[int, int]:
    """(exit status, threads added while it ran)."""

    async def main() -> tuple[int, int]:
        before = threading.active_count()
        proc = spawn(argv, stdin=None, stdout=2, stderr=2, pass_fds=(), cwd="/", env={"PATH": "/usr/bin:/bin"})
        await asyncio.sleep(0.05)
        added = threading.active_count() - before
        assert proc.returncode is None
        if kill:
            os.killpg(proc.pid, signal.SIGKILL)  # it leads its own group, as every sandbox launch does
        code = await asyncio.wait_for(proc.wait(), timeout=20)
        assert proc.returncode == code
        assert await proc.wait() == code  # again, after the fact
        return code, added

    return asyncio.run(main())


def test_the_exit_status_comes_through_the_pidfd_without_a_thread() -> None:
    assert _run(["/bin/sh", "-c", "sleep 0.3; exit 3"]) == (3, 0)


def test_a_killed_launch_reports_the_signal() -> None:
    code, _ = _run(["/bin/sleep", "30"], kill=True)
    assert code == -signal.SIGKILL


def test_without_pidfds_a_thread_waits_instead(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_pidfd(pid: int) -> int:
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(os, "pidfd_open", no_pidfd)  # the module looks it up on os at each spawn
    code, added = _run(["/bin/sh", "-c", "sleep 0.3; exit 4"])
    assert code == 4
    assert added >= 1
