"""Journaled exactly-once exec, crash recovery, and background jobs on a real LocalSandbox."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from dexa.adapters.local_sandbox import LocalSandbox
from dexa.adapters.local_sandbox.journal import JobDir
from dexa.core.errors import SandboxError

pytestmark = pytest.mark.anyio

WaitUntil = Callable[..., Awaitable[bool]]
GATED = "echo once >> log.txt; while [ ! -e go ]; do sleep 0.01; done; echo done"

CHILD = """
import asyncio, sys
from dexa.adapters.local_sandbox import LocalSandbox

async def main() -> None:
    box = LocalSandbox(sys.argv[1], state_dir=sys.argv[2])
    await box.exec(sys.argv[3], cwd=sys.argv[1], job_id=sys.argv[4], timeout_s=60)

asyncio.run(main())
"""


async def test_same_job_id_runs_once_and_returns_the_first_result(sandbox: LocalSandbox, root: Path) -> None:
    first = await sandbox.exec("echo x >> log.txt; echo run", cwd=str(root), job_id="toolu_A")
    second = await sandbox.exec("echo x >> log.txt; echo run", cwd=str(root), job_id="toolu_A")
    assert first.stdout == second.stdout == "run\n" and first.exit_code == second.exit_code == 0
    assert (root / "log.txt").read_text() == "x\n"


async def test_a_job_survives_the_crash_of_its_dexa_process_and_is_recovered(
    root: Path, state_dir: str, wait_until: WaitUntil
) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, str(root), state_dir, GATED, "toolu_crash", env=dict(os.environ)
    )
    log = root / "log.txt"
    assert await wait_until(lambda: log.exists() and log.read_text() == "once\n", timeout=20)  # it runs
    child.send_signal(signal.SIGKILL)
    await child.wait()
    (root / "go").touch()  # the job is still running without its parent: let it finish

    fresh = LocalSandbox(str(root), state_dir=state_dir)
    result = await fresh.recover("toolu_crash", wait_s=20)
    assert result is not None and result.stdout == "done\n" and result.exit_code == 0
    again = await fresh.exec(GATED, cwd=str(root), job_id="toolu_crash")
    assert again.stdout == "done\n"
    assert (root / "log.txt").read_text() == "once\n"


async def test_recover_waits_for_a_running_job(sandbox: LocalSandbox, root: Path, state_dir: str) -> None:
    task = asyncio.create_task(sandbox.exec(GATED, cwd=str(root), job_id="toolu_wait"))
    other = LocalSandbox(str(root), state_dir=state_dir)
    waiter = asyncio.create_task(other.recover("toolu_wait", wait_s=20))
    await asyncio.sleep(0)
    assert not waiter.done()
    (root / "go").touch()
    result = await waiter
    assert result is not None and result.stdout == "done\n"
    assert (await task).stdout == "done\n"


async def test_recover_kills_a_job_that_outlives_wait_s(
    sandbox: LocalSandbox, root: Path, state_dir: str, processes_with: Callable[[str], list[int]], wait_until: WaitUntil
) -> None:
    task = asyncio.create_task(sandbox.exec("sleep 987.661", cwd=str(root), job_id="toolu_slow", timeout_s=60))
    assert await wait_until(lambda: bool(processes_with("987.661")))
    result = await LocalSandbox(str(root), state_dir=state_dir).recover("toolu_slow", wait_s=0.2)
    assert result is not None and result.timed_out and result.exit_code == 137
    assert await wait_until(lambda: not processes_with("987.661"))
    await task


async def test_a_job_that_never_started_is_none_and_then_runs_exactly_once(
    sandbox: LocalSandbox, root: Path, state_dir: str
) -> None:
    assert await sandbox.recover("toolu_unknown") is None
    # Dexa crashed after journaling the job but before launching it.
    JobDir(os.path.join(state_dir, "jobs", "toolu_ghost")).create({"command": "echo x >> log.txt"})
    assert await sandbox.recover("toolu_ghost", wait_s=5) is None
    # The engine now runs it; two racing attempts (say, two workers) still run it once.
    results = await asyncio.gather(
        *(sandbox.exec("echo x >> log.txt; echo ran", cwd=str(root), job_id="toolu_ghost") for _ in range(3))
    )
    assert [r.stdout for r in results] == ["ran\n"] * 3
    assert (root / "log.txt").read_text() == "x\n"


async def test_job_ids_with_odd_characters_are_journaled_safely(sandbox: LocalSandbox, root: Path) -> None:
    result = await sandbox.exec("echo ok", cwd=str(root), job_id="../../escape me")
    assert result.stdout == "ok\n"
    assert (await sandbox.recover("../../escape me")) == result


async def _poll_until(box: LocalSandbox, job_id: str, needle: str, since: int = 0) -> tuple[str, int]:
    seen = ""
    for _ in range(500):
        job = await box.poll_background(job_id, since=since, wait_s=0.0)
        seen += job.output
        since = job.output_offset
        if needle in seen:
            return seen, since
        await asyncio.sleep(0.01)
    raise AssertionError(f"{needle!r} never appeared in {seen!r}")


async def test_background_job_output_is_incremental_and_finishes(sandbox: LocalSandbox, root: Path) -> None:
    cmd = "for i in 1 2 3; do echo line$i; done; echo err >&2; while [ ! -e go ]; do sleep 0.01; done; echo end"
    started = await sandbox.start_background(cmd, cwd=str(root), job_id="bg1")
    assert started.running and started.exit_code is None
    seen, offset = await _poll_until(sandbox, "bg1", "err")
    assert seen == "line1\nline2\nline3\nerr\n"
    (root / "go").touch()
    done = await sandbox.poll_background("bg1", since=offset, wait_s=10)
    assert (done.running, done.exit_code, done.output) == (False, 0, "end\n")


async def test_kill_background_stops_the_job(
    sandbox: LocalSandbox, root: Path, processes_with: Callable[[str], list[int]], wait_until: WaitUntil
) -> None:
    await sandbox.start_background("echo up; sleep 987.671", cwd=str(root), job_id="bg2")
    assert await wait_until(lambda: bool(processes_with("987.671")))
    job = await sandbox.kill_background("bg2")
    assert not job.running and job.exit_code == 137 and job.command == "echo up; sleep 987.671"
    assert await wait_until(lambda: not processes_with("987.671"))


async def test_close_kills_background_jobs(
    root: Path, state_dir: str, processes_with: Callable[[str], list[int]], wait_until: WaitUntil
) -> None:
    box = LocalSandbox(str(root), state_dir=state_dir)
    await box.start_background("sleep 987.681", cwd=str(root), job_id="bg3")
    assert await wait_until(lambda: bool(processes_with("987.681")))
    await box.close()
    assert await wait_until(lambda: not processes_with("987.681"))


async def test_background_jobs_are_visible_to_a_new_instance(sandbox: LocalSandbox, root: Path, state_dir: str) -> None:
    await sandbox.start_background("echo from-before; sleep 987.691", cwd=str(root), job_id="bg4")
    await _poll_until(sandbox, "bg4", "from-before")
    other = LocalSandbox(str(root), state_dir=state_dir)
    job = await other.poll_background("bg4")
    assert job.running and job.output == "from-before\n"
    killed = await other.kill_background("bg4")
    assert not killed.running


async def test_unknown_background_job_is_an_error(sandbox: LocalSandbox) -> None:
    with pytest.raises(SandboxError, match="No background job"):
        await sandbox.poll_background("nope")


async def test_killing_during_bwrap_setup_leaves_no_orphaned_sandbox(
    sandbox: LocalSandbox, root: Path, processes_with: Callable[[str], list[int]], wait_until: WaitUntil
) -> None:
    # bwrap arms --die-with-parent only part-way through its setup; an early kill must still take the sandbox down.
    for i in range(8):
        await sandbox.start_background("sleep 987.701", cwd=str(root), job_id=f"early{i}")
        await sandbox.kill_background(f"early{i}")
    for i in range(4):
        task = asyncio.create_task(sandbox.exec("sleep 987.702", cwd=str(root), timeout_s=60))
        await asyncio.sleep(0.001 * i)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert await wait_until(lambda: not processes_with("987.70"))


async def test_unsandboxed_mode_journals_and_runs_background_jobs_the_same_way(root: Path, state_dir: str) -> None:
    box = LocalSandbox(str(root), unsandboxed=True, state_dir=state_dir)
    first = await box.exec("echo x >> log.txt; cd /tmp; exit 4", cwd=str(root), job_id="u1")
    again = await box.exec("echo x >> log.txt", cwd=str(root), job_id="u1")
    assert (first.exit_code, first.cwd) == (4, "/tmp") and again == first
    assert (root / "log.txt").read_text() == "x\n"
    await box.start_background("echo bg; exit 3", cwd=str(root), job_id="u2")
    job = await box.poll_background("u2", wait_s=10)
    assert (job.running, job.exit_code, job.output) == (False, 3, "bg\n")
    await box.close()


async def test_a_job_claimed_but_never_launched_runs_exactly_once_on_recovery(
    sandbox: LocalSandbox, root: Path, state_dir: str
) -> None:
    # Dexa crashed between claiming the launch and spawning: no shell ever began, so nothing ran and running it now
    # keeps the call exactly-once (reporting "interrupted" would silently drop the side effect).
    job = JobDir(os.path.join(state_dir, "jobs", "toolu_limbo"))
    job.create({"command": "echo x >> log.txt"})
    assert job.claim("launched\n")
    assert await sandbox.recover("toolu_limbo", wait_s=5) is None
    first = await sandbox.exec("echo x >> log.txt", cwd=str(root), job_id="toolu_limbo")
    again = await sandbox.exec("echo x >> log.txt", cwd=str(root), job_id="toolu_limbo")
    assert first.exit_code == again.exit_code == 0
    assert (root / "log.txt").read_text() == "x\n"


async def test_a_job_whose_shell_began_and_died_is_reported_interrupted_not_rerun(
    sandbox: LocalSandbox, root: Path, state_dir: str
) -> None:
    # The shell started (its first line is in `cwd`) and then vanished without an exit status: it may have had
    # effects, so at most once means reporting, never re-running.
    job = JobDir(os.path.join(state_dir, "jobs", "toolu_began"))
    job.create({"command": "echo x >> log.txt"})
    assert job.claim("launched\n")
    Path(job.file("cwd")).write_text("\n")  # noqa: ASYNC240 - a one-line test fixture write
    result = await sandbox.recover("toolu_began", wait_s=5)
    assert result is not None and result.exit_code == 137 and "interrupted" in result.stderr
    again = await sandbox.exec("echo x >> log.txt", cwd=str(root), job_id="toolu_began")
    assert again.exit_code == 137 and not (root / "log.txt").exists()


async def test_old_finished_journals_are_pruned(sandbox: LocalSandbox, root: Path, state_dir: str) -> None:
    await sandbox.exec("true", cwd=str(root), job_id="old")
    await sandbox.exec("true", cwd=str(root), job_id="new")
    exit_file = Path(state_dir, "jobs", "old", "exit")
    os.utime(exit_file, (1_000_000, 1_000_000))
    assert sandbox.prune_jobs() == 1
    assert sorted(os.listdir(Path(state_dir, "jobs"))) == ["new"]
