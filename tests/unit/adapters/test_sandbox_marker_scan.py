"""The sweep after a sandboxed command (journal.kill_marked) finds a process by the `--hostname <marker>` in its
command line wherever it sits, past the first 64 KiB read too, and kills only that one."""

from __future__ import annotations

import subprocess
import sys
import time

from dexa.adapters.local_sandbox.journal import kill_marked, marker_for


def _sleeper(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", *args])


def test_a_marked_process_is_found_past_a_long_command_line_and_only_it_is_killed() -> None:
    marker = marker_for(f"scan-test-{time.time_ns()}")
    padding = ["x" * 50_000] * 4  # the marker comes after three full 64 KiB reads (one argument may be 128 KiB)
    marked = _sleeper(*padding, "--hostname", marker, "tail")
    other = _sleeper("--hostname", marker + "0", "tail")  # a longer marker with the same prefix: not this job's
    try:
        deadline = time.monotonic() + 10
        killed = 0
        while not killed and time.monotonic() < deadline:  # until the child has exec'd python with its argv
            killed = kill_marked(marker)
        assert killed == 1
        assert marked.wait(timeout=10) == -9
        assert other.poll() is None
        assert kill_marked(marker) == 0
    finally:
        for proc in (marked, other):
            proc.kill()
            proc.wait()
