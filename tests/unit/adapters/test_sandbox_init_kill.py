"""The sweep after a journaled command kills its sandbox through the init's pid (bwrap --info-fd), not a /proc scan:
only a process carrying the job's marker is signalled, so a recycled pid is left alone."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from dexa.adapters.local_sandbox.journal import kill_sandbox, marker_for, sandbox_init


def _sleeper(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", *args])


def _exec_done(proc: subprocess.Popen[bytes], marker: str) -> None:
    """Until the child has exec'd python with its argv (before that its command line is this test's)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with open(f"/proc/{proc.pid}/cmdline", "rb") as fh:
            if marker.encode() in fh.read():
                return
        time.sleep(0.005)
    raise AssertionError("the child never exec'd")


def test_the_init_carrying_the_marker_is_killed_and_another_process_at_that_pid_is_not() -> None:
    marker = marker_for(f"init-kill-{time.time_ns()}")
    init = _sleeper("--hostname", marker, "tail")
    stranger = _sleeper("--hostname", marker + "0", "tail")  # what a recycled pid would hold: not this job's
    try:
        _exec_done(init, marker)
        _exec_done(stranger, marker)
        kill_sandbox(stranger.pid, marker)
        kill_sandbox(init.pid, marker)
        assert init.wait(timeout=10) == -9
        assert stranger.poll() is None
    finally:
        for proc in (init, stranger):
            proc.kill()
            proc.wait()
    kill_sandbox(init.pid, marker)  # gone (reaped): nothing to do, no error


@pytest.mark.parametrize(
    ("info", "pid"),
    [
        (b'{\n    "child-pid": 4242,\n    "cgroup-namespace": 4026531835\n}\n', 4242),
        (b"", None),  # bwrap failed before its clone
        (b'{"child-pid": 42', None),  # torn
        (b'{"child-pid": 1}', None),  # never the host's init
        (b'{"child-pid": "7"}', None),
        (b"[]", None),
    ],
)
def test_the_init_pid_is_read_from_bwrap_info_output(info: bytes, pid: int | None) -> None:
    assert sandbox_init(info) == pid
