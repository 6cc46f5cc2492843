"""Journaled commands run in a sandbox started ahead of them (spare.py): same result as a fresh launch, a fresh
launch whenever anything differs, nothing left behind."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from dexa.adapters.local_sandbox import LocalSandbox
from dexa.adapters.local_sandbox.journal import marker_for

pytestmark = pytest.mark.anyio

WaitUntil = Callable[..., Awaitable[bool]]
# What a command can see of how it was started: its shell, descriptors, environment, limits, privileges, /tmp,
# directory and the first processes of its PID namespace (init, then bash). Not /proc/1/cmdline: bwrap's own
# command line ends with the spare's wait script instead of the command.
PROBE = r"""
echo "argv0=$0 pid=$$ ppid=$PPID opts=$- shlvl=$SHLVL"
for f in /proc/$$/fd/*; do
  echo "fd ${f##*/} $(readlink "$f" | sed -e 's#.*/jobs/[^/]*/#JOB/#' -e 's/pipe:.*/pipe/')"
done
env | grep -v '^_=' | sort
ulimit -a
grep -E '^(Cap|NoNewPrivs|Seccomp|Uid|Gid)' /proc/$$/status
ls -A /tmp
pwd
ls /proc | grep -E '^[0-9]+$' | sort -n | head -2 | tr '\n' ' '
echo; cat /proc/1/comm
echo err >&2; exit 3
"""


def spare_markers(state_dir: str) -> list[str]:
    """The hostnames of this state directory's spares (other tests' spares run on the same machine)."""
    spares = os.path.join(os.path.realpath(state_dir), "spares")
    return [marker_for(os.path.join(spares, name)) for name in os.listdir(spares)] if os.path.isdir(spares) else []


def _own_seconds() -> str:
    """A long sleep's length that no other process's command line holds: the process table is the whole machine's,
    and other tests (another xdist worker's among them) run `sleep 30` too."""
    return f"30.{uuid.uuid4().int % 10**9:09d}"


async def _one_spare(state_dir: str, processes_with: Callable[[str], list[int]], wait_until: WaitUntil) -> str:
    """Wait for this state directory's spare to be running; its marker."""
    assert await wait_until(lambda: any(processes_with(m) for m in spare_markers(state_dir)), timeout=5)
    (marker,) = spare_markers(state_dir)
    return marker


async def _probe(box: LocalSandbox, root: Path, job: str) -> tuple[str, str, int]:
    result = await box.exec(PROBE, cwd=str(root), job_id=job)
    return result.stdout, result.stderr, result.exit_code


async def test_a_command_in_a_spare_sees_exactly_what_a_fresh_launch_gives(root: Path, tmp_path: Path) -> None:
    fresh_box = LocalSandbox(str(root), state_dir=str(tmp_path / "s1"), spare_idle_s=0)
    spare_box = LocalSandbox(str(root), state_dir=str(tmp_path / "s2"))
    try:
        await fresh_box.exec("true", cwd=str(root), job_id="warm1")
        await spare_box.exec("true", cwd=str(root), job_id="warm2")
        fresh = await _probe(fresh_box, root, "probe1")
        spared = await _probe(spare_box, root, "probe2")
    finally:
        await fresh_box.close()
        await spare_box.close()
    assert fresh_box.ran_in_spares == 0 and spare_box.ran_in_spares == 1
    assert spared == fresh
    assert fresh[2] == 3 and fresh[1] == "err\n" and "argv0=/bin/bash pid=2" in fresh[0]


async def test_consecutive_commands_each_get_a_new_sandbox(sandbox: LocalSandbox, root: Path) -> None:
    outputs = []
    for i in range(4):
        command = f"echo {i} >> log.txt; test -e /tmp/mine && echo stale || echo clean; echo x > /tmp/mine; hostname"
        result = await sandbox.exec(command, cwd=str(root), job_id=f"t{i}")
        assert result.exit_code == 0, result
        outputs.append(result.stdout.split())
    assert (root / "log.txt").read_text().split() == ["0", "1", "2", "3"]
    assert all(out[0] == "clean" for out in outputs)  # each /tmp starts empty
    assert len({out[1] for out in outputs}) == 4  # four sandboxes, four hostnames
    assert sandbox.ran_in_spares == 3


async def test_a_new_working_directory_or_environment_means_a_fresh_launch(sandbox: LocalSandbox, root: Path) -> None:
    (root / "sub").mkdir()
    await sandbox.exec("true", cwd=str(root), job_id="a")
    moved = await sandbox.exec("pwd", cwd=str(root / "sub"), job_id="b")
    assert moved.stdout.strip() == str(root / "sub") and sandbox.ran_in_spares == 0
    # The spare started after "b" waits in sub/: a different environment must not reuse it either.
    env = await sandbox.exec("echo $FOO", cwd=str(root / "sub"), env={"FOO": "bar"}, job_id="c")
    assert env.stdout == "bar\n" and sandbox.ran_in_spares == 0
    same = await sandbox.exec("echo $FOO; pwd", cwd=str(root / "sub"), env={"FOO": "bar"}, job_id="d")
    assert same.stdout.split() == ["bar", str(root / "sub")] and sandbox.ran_in_spares == 1


async def test_cd_carries_over_through_a_spare(sandbox: LocalSandbox, root: Path) -> None:
    (root / "deep").mkdir()
    first = await sandbox.exec("cd deep", cwd=str(root), job_id="cd1")
    second = await sandbox.exec("pwd", cwd=first.cwd, job_id="cd2")
    assert second.stdout.strip() == str(root / "deep") and sandbox.ran_in_spares == 1


async def test_timeout_and_output_of_a_command_in_a_spare(
    sandbox: LocalSandbox, root: Path, wait_until: WaitUntil, processes_with: Callable[[str], list[int]]
) -> None:
    await sandbox.exec("true", cwd=str(root), job_id="w")
    seconds = _own_seconds()
    result = await sandbox.exec(f"echo started; sleep {seconds}", cwd=str(root), job_id="slow", timeout_s=0.5)
    assert result.timed_out and result.exit_code == 137 and result.stdout == "started\n"
    assert sandbox.ran_in_spares == 1
    # The killed shell leaves the process table when the kernel gets to it, not when exec returns.
    assert await wait_until(lambda: processes_with(seconds) == [], timeout=5)


async def test_a_cancelled_command_in_a_spare_is_killed(
    sandbox: LocalSandbox, root: Path, wait_until: WaitUntil, processes_with: Callable[[str], list[int]]
) -> None:
    await sandbox.exec("true", cwd=str(root), job_id="w")
    seconds = _own_seconds()
    task = asyncio.ensure_future(
        sandbox.exec(f"touch began; sleep {seconds}", cwd=str(root), job_id="cancel", timeout_s=60)
    )
    assert await wait_until(lambda: (root / "began").exists(), timeout=10)
    assert processes_with(seconds)  # the positive control: the scan finds the command while it runs
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await wait_until(lambda: processes_with(seconds) == [], timeout=5)


async def test_close_ends_the_waiting_spare(
    root: Path, state_dir: str, wait_until: WaitUntil, processes_with: Callable[[str], list[int]]
) -> None:
    box = LocalSandbox(str(root), state_dir=state_dir)
    await box.exec("true", cwd=str(root), job_id="one")
    marker = await _one_spare(state_dir, processes_with, wait_until)
    await box.close()
    assert await wait_until(lambda: processes_with(marker) == [], timeout=5)
    assert os.listdir(os.path.join(state_dir, "spares")) == []


async def test_an_idle_spare_is_ended(
    root: Path, state_dir: str, wait_until: WaitUntil, processes_with: Callable[[str], list[int]]
) -> None:
    box = LocalSandbox(str(root), state_dir=state_dir, spare_idle_s=0.3)
    try:
        await box.exec("true", cwd=str(root), job_id="one")
        marker = await _one_spare(state_dir, processes_with, wait_until)
        assert await wait_until(lambda: processes_with(marker) == [], timeout=5)
        again = await box.exec("echo again", cwd=str(root), job_id="two")
        assert again.stdout == "again\n" and box.ran_in_spares == 0
    finally:
        await box.close()


CHILD = """
import asyncio, sys
from dexa.adapters.local_sandbox import LocalSandbox

async def main() -> None:
    box = LocalSandbox(sys.argv[1], state_dir=sys.argv[2])
    await box.exec("true", cwd=sys.argv[1], job_id="first")
    print("ready", flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


async def test_a_spare_whose_dexa_died_runs_nothing_and_exits(
    root: Path, state_dir: str, wait_until: WaitUntil, processes_with: Callable[[str], list[int]]
) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, str(root), state_dir, stdout=asyncio.subprocess.PIPE, env=dict(os.environ)
    )
    assert child.stdout is not None
    assert await asyncio.wait_for(child.stdout.readline(), 30) == b"ready\n"
    marker = await _one_spare(state_dir, processes_with, wait_until)
    child.send_signal(signal.SIGKILL)
    await child.wait()
    assert await wait_until(lambda: processes_with(marker) == [], timeout=5)
    # The next Dexa process cleans the dead one's spare directory up.
    box = LocalSandbox(str(root), state_dir=state_dir)
    try:
        assert os.listdir(os.path.join(state_dir, "spares")) == []
        assert (await box.exec("echo ok", cwd=str(root), job_id="second")).stdout == "ok\n"
    finally:
        await box.close()
