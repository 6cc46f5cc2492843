"""A cancelled command stops in the Modal sandbox: the job is detached there, so ending the exec is not enough."""

from __future__ import annotations

import asyncio
import contextlib
import time

from standin_rig import MakeWorkspace, p


def test_cancelling_an_exec_kills_the_command_in_the_sandbox(make_workspace: MakeWorkspace) -> None:
    async def main() -> None:
        ws = make_workspace()
        cmd = "echo began > began.txt; sleep 3; echo late > late.txt"
        task = asyncio.create_task(ws.exec(cmd, cwd=ws.root, job_id="toolu_cancel", timeout_s=60))
        deadline = time.monotonic() + 20
        while not await ws.exists(p(ws, "began.txt")):
            assert time.monotonic() < deadline and not task.done()
            await asyncio.sleep(0.1)
        task.cancel()  # what the step does when the turn is cancelled
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await asyncio.sleep(4)  # past the point where the command would have written late.txt
        assert not await ws.exists(p(ws, "late.txt")), "the command ran on after its exec was cancelled"
        procs = await ws.exec("ps -eo args | grep -c '[s]leep 3' || true", cwd=ws.root)
        assert procs.stdout.strip() == "0", procs
        # The journal says killed, and the same job id is not run again by a later Lambda.
        recovered = await ws.recover("toolu_cancel")
        assert recovered is not None and recovered.exit_code == 137

    asyncio.run(main())


def test_a_cancel_that_beats_the_start_means_the_command_never_runs(make_workspace: MakeWorkspace) -> None:
    async def main() -> None:
        ws = make_workspace()
        await ws.exec("true", cwd=ws.root)  # the sandbox is up: the cancel below is about the job, not the attach
        job = ws._job("toolu_early")
        assert (await ws._json("cancel", job))["state"] == "abandoned"
        result = await ws.exec("echo ran > ran.txt", cwd=ws.root, job_id="toolu_early")
        assert result.exit_code != 0 and not await ws.exists(p(ws, "ran.txt"))

    asyncio.run(main())
