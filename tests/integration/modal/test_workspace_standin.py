"""ModalSandbox on the Modal stand-in: commands, files, journals, and a workspace that outlives its sandbox."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from standin_rig import MakeWorkspace, p

from dexa.core.errors import SandboxError


def test_commands_and_files_run_in_a_bubblewrap_sandbox_on_the_volume(
    make_workspace: MakeWorkspace, standin: Any
) -> None:
    async def main() -> None:
        ws = make_workspace(root="/workspace/repo")
        await ws.write_bytes(p(ws, "src", "a.py"), b"print('hi')\n")
        result = await ws.exec("python3 src/a.py; echo err >&2; cd src; exit 3", cwd=ws.root)
        assert (result.exit_code, result.stdout, result.stderr.strip(), result.cwd) == (3, "hi\n", "err", p(ws, "src"))
        assert await ws.read_bytes(p(ws, "src", "a.py")) == b"print('hi')\n"
        assert await ws.is_dir(p(ws, "src")) and not await ws.exists(p(ws, "nope"))
        walked = await ws.walk(ws.root)
        assert walked == [p(ws, "src", "a.py")]
        net = await ws.exec("python3 -c 'import socket; socket.create_connection((\"1.1.1.1\", 53), 2)'", cwd=ws.root)
        assert net.exit_code != 0  # block_network: no route out
        (sandbox,) = [s for s in standin.sandboxes() if s["name"] == ws.sandbox_name]
        assert sandbox["volumes"] == {"/workspace": ws.volume_name} and sandbox["block_network"]

    asyncio.run(main())


def test_a_journaled_command_runs_once_and_is_recovered_by_another_lambda(make_workspace: MakeWorkspace) -> None:
    async def main() -> None:
        ws = make_workspace()
        cmd = "echo run >> count.txt; wc -l < count.txt"
        first = await ws.exec(cmd, cwd=ws.root, job_id="toolu_1")
        again = await ws.exec(cmd, cwd=ws.root, job_id="toolu_1")
        assert first.stdout.strip() == again.stdout.strip() == "1"
        other = make_workspace(ws.session_id, record=ws.record)  # the next Lambda: a fresh handle
        recovered = await other.recover("toolu_1")
        assert recovered is not None and recovered.stdout.strip() == "1"
        assert await other.recover("never-started") is None

    asyncio.run(main())


def test_the_workspace_outlives_the_idle_timeout_with_its_files(
    make_workspace: MakeWorkspace, standin: Any, on_event: Any, events: list[Any]
) -> None:
    async def main() -> None:
        ws = make_workspace(idle_timeout_s=2, on_event=on_event)
        await ws.exec("git init -q . && echo v1 > app.txt && mkdir -p deep/er && echo x > deep/er/f", cwd=ws.root)
        first = ws._sb.object_id
        ended = await asyncio.to_thread(standin.wait_ended, first, 30)  # Modal's idle timeout, for real
        assert ended["ended_reason"] == "idle_timeout"
        result = await ws.exec("cat app.txt deep/er/f && git rev-parse --is-inside-work-tree", cwd=ws.root)
        # (a loaded machine may idle out between the calls of one exec too: each restart is one more restore)
        assert result.stdout == "v1\nx\ntrue\n" and ws._sb.object_id != first and ws.restarts >= 1
        assert {e[1]["code"] for e in events} == {"workspace_restored"} and len(events) == ws.restarts

    asyncio.run(main())


def test_the_workspace_outlives_the_maximum_lifetime(make_workspace: MakeWorkspace, standin: Any) -> None:
    async def main() -> None:
        ws = make_workspace(lifetime_s=3, idle_timeout_s=600)
        await ws.write_bytes(p(ws, "kept.txt"), b"kept")
        first = ws._sb.object_id
        ended = await asyncio.to_thread(standin.wait_ended, first, 30)
        assert ended["ended_reason"] == "lifetime"
        assert await ws.read_bytes(p(ws, "kept.txt")) == b"kept" and ws.restarts >= 1

    asyncio.run(main())


def test_a_command_cut_off_by_the_sandbox_ending_is_reported_not_rerun(
    make_workspace: MakeWorkspace, standin: Any
) -> None:
    async def main() -> None:
        ws = make_workspace()
        await ws.exec("true", cwd=ws.root)
        cmd = "echo began >> runs.txt; echo partial; sleep 30; echo never"
        task = asyncio.create_task(ws.exec(cmd, cwd=ws.root, job_id="toolu_long", timeout_s=60))
        deadline = time.monotonic() + 20
        while not await ws.exists(p(ws, "runs.txt")):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        standin.expire(name=ws.sandbox_name)
        result = await task
        assert result.exit_code == 137 and "partial" in result.stdout and "never" not in result.stdout
        later = make_workspace(ws.session_id, record=ws.record)
        recovered = await later.recover("toolu_long")
        assert recovered is not None and recovered.exit_code == 137
        rerun = await later.exec(cmd, cwd=ws.root, job_id="toolu_long")  # the same job id: not run again
        assert rerun.exit_code == 137
        assert await later.read_bytes(p(ws, "runs.txt")) == b"began\n"

    asyncio.run(main())


def test_a_deleted_volume_is_a_workspace_lost_error(
    make_workspace: MakeWorkspace, standin: Any, on_event: Any, events: list[Any]
) -> None:
    async def main() -> None:
        ws = make_workspace(on_event=on_event)
        await ws.write_bytes(p(ws, "f.txt"), b"x")
        standin.expire(name=ws.sandbox_name)
        standin.delete_volume(ws.volume_name)
        before = len(standin.state()["sandboxes"])
        with pytest.raises(SandboxError, match="cannot be restored") as info:
            await ws.exec("ls", cwd=ws.root)
        assert info.value.code == "workspace_lost" and events[-1][1]["code"] == "workspace_lost"
        assert len(standin.state()["sandboxes"]) == before  # no empty sandbox was started

    asyncio.run(main())


def test_destroy_ends_the_sandbox_and_deletes_the_volume(make_workspace: MakeWorkspace, standin: Any) -> None:
    async def main() -> None:
        ws = make_workspace()
        await ws.write_bytes(p(ws, "f.txt"), b"x")
        assert ws.volume_name in standin.state()["volumes"]
        await ws.destroy()
        await ws.destroy()  # idempotent
        assert ws.volume_name not in standin.state()["volumes"]
        assert not [s for s in standin.sandboxes() if s["name"] == ws.sandbox_name]

    asyncio.run(main())
