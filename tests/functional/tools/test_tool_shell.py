"""Bash, BashOutput and KillShell end to end on a real bwrap sandbox."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from dexa.core.tools import ToolContext
from dexa.tools import default_registry
from dexa.tools.shell import Bash, BashOutput, KillShell

pytestmark = pytest.mark.anyio


def _next(ctx: ToolContext, tool_use_id: str) -> ToolContext:
    return dataclasses.replace(ctx, tool_use_id=tool_use_id)


async def test_bash_returns_output_and_exit_code(ctx: ToolContext) -> None:
    ok = await Bash().run({"command": "echo hello"}, ctx)
    assert (ok.content, ok.is_error, ok.data["exit_code"]) == ("hello", False, 0)
    bad = await Bash().run({"command": "echo oops >&2; exit 7"}, _next(ctx, "t2"))
    assert bad.is_error and bad.content == "oops\nExit code 7"


async def test_grep_without_matches_is_not_an_error(ctx: ToolContext, root: Path) -> None:
    (root / "f.txt").write_text("abc\n")
    out = await Bash().run({"command": "grep zzz f.txt"}, ctx)
    assert not out.is_error and out.data["returnCodeInterpretation"] == "No matches found"


async def test_bash_cwd_persists_between_calls_within_the_workspace(ctx: ToolContext, root: Path) -> None:
    (root / "pkg" / "sub").mkdir(parents=True)
    await Bash().run({"command": "cd pkg/sub"}, ctx)
    assert ctx.state.cwd == str(root / "pkg" / "sub")
    out = await Bash().run({"command": "pwd"}, _next(ctx, "t2"))
    assert out.content == str(root / "pkg" / "sub")


async def test_bash_cwd_leaving_the_workspace_is_reset_with_a_note(ctx: ToolContext, root: Path) -> None:
    out = await Bash().run({"command": "cd /usr && pwd"}, ctx)
    assert out.content.startswith("/usr") and f"Shell cwd was reset to {root}" in out.content
    assert ctx.state.cwd == str(root)


async def test_bash_recovers_when_the_cwd_was_deleted(ctx: ToolContext, root: Path) -> None:
    (root / "gone").mkdir()
    ctx.state.cwd = str(root / "gone")
    (root / "gone").rmdir()
    out = await Bash().run({"command": "pwd"}, ctx)
    assert out.content.startswith(str(root)) and "Shell cwd was reset" in out.content


async def test_bash_timeout_kills_and_reports(ctx: ToolContext) -> None:
    out = await Bash().run({"command": "echo start; sleep 30", "timeout": 300}, ctx)
    assert out.is_error and out.data["interrupted"]
    assert out.content.startswith("start") and "timed out after 0.3s" in out.content


async def test_bash_truncates_long_output_with_a_notice(ctx: ToolContext) -> None:
    out = await Bash().run({"command": "python3 -c \"print('a' * 50000 + 'END')\""}, ctx)
    assert len(out.content) < 30_200 and "characters truncated" in out.content and out.content.endswith("END")


async def test_bash_is_journaled_by_tool_use_id_so_a_retry_does_not_rerun(ctx: ToolContext, root: Path) -> None:
    first = await Bash().run({"command": "echo line >> log.txt; wc -l < log.txt"}, ctx)
    retry = await Bash().run({"command": "echo line >> log.txt; wc -l < log.txt"}, ctx)
    assert first.content == retry.content == "1"
    assert (root / "log.txt").read_text() == "line\n"


async def test_bash_hides_host_secrets(ctx: ToolContext, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test-secret")
    out = await Bash().run({"command": "env; cat /proc/1/environ"}, ctx)
    assert "sk-test-secret" not in out.content and "ANTHROPIC_API_KEY" not in out.content


async def test_bash_input_errors(ctx: ToolContext) -> None:
    missing = await Bash().run({}, ctx)
    assert missing.is_error and "`command` is missing" in missing.content
    wrong = await Bash().run({"command": "true", "timeout": "soon"}, ctx)
    assert wrong.is_error and "`timeout` must be of type number" in wrong.content


async def _wait_for_output(ctx: ToolContext, job_id: str, needle: str) -> str:
    seen = ""
    for i in range(400):
        out = await BashOutput().run({"bash_id": job_id}, _next(ctx, f"poll{i}"))
        assert not out.is_error, out.content
        seen += out.data["output"]
        if needle in seen:
            return seen
        await asyncio.sleep(0.01)
    raise AssertionError(f"{needle!r} never appeared in {seen!r}")


async def test_background_bash_output_and_kill(ctx: ToolContext, root: Path) -> None:
    started = await Bash().run(
        {"command": "echo ready; while [ ! -e stop ]; do sleep 0.01; done; echo stopping", "run_in_background": True},
        _next(ctx, "bg_1"),
    )
    assert not started.is_error and started.data["backgroundTaskId"] == "bg_1"
    assert ctx.state.background_jobs == ["bg_1"]
    assert "ready" in await _wait_for_output(ctx, "bg_1", "ready")
    again = await BashOutput().run({"bash_id": "bg_1"}, ctx)
    assert "<status>running</status>" in again.content and "ready" not in again.content  # only new output
    killed = await KillShell().run({"shell_id": "bg_1"}, ctx)
    assert not killed.is_error and "Successfully killed shell: bg_1" in killed.content
    final = await BashOutput().run({"bash_id": "bg_1"}, ctx)
    assert "<status>killed</status>" in final.content and "<exit_code>137</exit_code>" in final.content


async def test_taskoutput_alias_blocks_until_the_job_finishes(ctx: ToolContext, root: Path) -> None:
    registry = default_registry(["Bash", "TaskOutput", "TaskStop"])
    bash, task_output = registry.get("Bash"), registry.get("TaskOutput")
    assert bash is not None and task_output is not None
    await bash.run({"command": "echo one; echo two", "run_in_background": True}, _next(ctx, "bg_2"))
    out = await task_output.run({"task_id": "bg_2", "block": True, "timeout": 10000}, ctx)
    assert "<status>completed</status>" in out.content and "one\ntwo" in out.content
    filtered = await task_output.run({"task_id": "bg_2", "filter": "two"}, _next(ctx, "x"))
    assert "<output/>" in filtered.content  # everything was already read


async def test_bashoutput_and_killshell_errors(ctx: ToolContext) -> None:
    no_id = await BashOutput().run({}, ctx)
    assert no_id.is_error and "bash_id" in no_id.content
    unknown = await BashOutput().run({"bash_id": "nope"}, ctx)
    assert unknown.is_error and "No background shell with id 'nope'" in unknown.content
    kill_unknown = await KillShell().run({"task_id": "nope"}, ctx)
    assert kill_unknown.is_error and "No background shell" in kill_unknown.content
    bad_filter = await BashOutput().run({"bash_id": "x", "filter": "("}, ctx)
    assert bad_filter.is_error


async def test_bash_recover_reports_the_journaled_run_or_none_when_it_never_ran(ctx: ToolContext, root: Path) -> None:
    assert await Bash().recover({"command": "echo x >> log.txt"}, _next(ctx, "never_ran")) is None
    done = await Bash().run({"command": "echo x >> log.txt; cd ..; echo ok"}, _next(ctx, "ran"))
    ctx.state.cwd = str(root)  # as persisted before the crash
    recovered = await Bash().recover({"command": "echo x >> log.txt; cd ..; echo ok"}, _next(ctx, "ran"))
    assert recovered is not None and recovered.content == done.content
    assert (root / "log.txt").read_text() == "x\n"


async def test_bash_recover_of_a_background_start_does_not_start_it_twice(ctx: ToolContext, root: Path) -> None:
    tool_input = {"command": "echo started >> bg.txt; sleep 30", "run_in_background": True}
    await Bash().run(tool_input, _next(ctx, "bg_r"))
    again = await Bash().recover(tool_input, _next(ctx, "bg_r"))
    assert again is not None and again.data["backgroundTaskId"] == "bg_r"
    out = await BashOutput().run({"bash_id": "bg_r", "block": True, "timeout": 300}, ctx)
    assert "<status>running</status>" in out.content
    await KillShell().run({"shell_id": "bg_r"}, ctx)
    assert (root / "bg.txt").read_text() == "started\n"
