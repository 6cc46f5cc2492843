"""LocalSandbox.exec under real bwrap: output, exit codes, cwd, env, timeouts, cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from dexa.adapters.local_sandbox import LocalSandbox
from dexa.core.errors import SandboxError
from dexa.core.ports import Workspace

pytestmark = pytest.mark.anyio


async def test_local_sandbox_implements_the_workspace_port(sandbox: LocalSandbox) -> None:
    assert isinstance(sandbox, Workspace)


async def test_exec_returns_stdout_stderr_and_exit_code(sandbox: LocalSandbox, root: Path) -> None:
    result = await sandbox.exec("echo out; echo err >&2; exit 3", cwd=str(root))
    assert (result.stdout, result.stderr, result.exit_code, result.timed_out) == ("out\n", "err\n", 3, False)


async def test_exec_runs_bash_in_the_workspace_which_is_writable(sandbox: LocalSandbox, root: Path) -> None:
    result = await sandbox.exec("[[ -d . ]] && pwd && echo hi > made.txt", cwd=str(root))
    assert result.exit_code == 0 and result.stdout.strip() == str(root)
    assert (root / "made.txt").read_text() == "hi\n"


async def test_exec_reports_the_final_cwd(sandbox: LocalSandbox, root: Path) -> None:
    (root / "sub").mkdir()
    result = await sandbox.exec("cd sub && exit 4", cwd=str(root))
    assert result.cwd == str(root / "sub") and result.exit_code == 4


async def test_exec_refuses_a_cwd_outside_the_workspace(sandbox: LocalSandbox) -> None:
    with pytest.raises(SandboxError, match="outside the workspace"):
        await sandbox.exec("true", cwd="/etc")


async def test_exec_passes_only_the_minimal_and_explicit_env(sandbox: LocalSandbox, root: Path) -> None:
    result = await sandbox.exec("env | sort", cwd=str(root), env={"MY_FLAG": "1"})
    names = {line.split("=", 1)[0] for line in result.stdout.splitlines()}
    assert {"PATH", "HOME", "LANG", "TERM", "MY_FLAG"} <= names
    assert names <= {"PATH", "HOME", "LANG", "TERM", "TMPDIR", "MY_FLAG", "PWD", "OLDPWD", "SHLVL", "_"}
    assert f"HOME={root}" in result.stdout and "TERM=dumb" in result.stdout


async def test_exec_has_a_fresh_private_tmp(sandbox: LocalSandbox, root: Path, tmp_path: Path) -> None:
    (tmp_path / "host-tmp-file").write_text("x")
    result = await sandbox.exec(f"ls {tmp_path}; touch /tmp/scratch && echo ok", cwd=str(root))
    assert "host-tmp-file" not in result.stdout and "ok" in result.stdout


async def test_timeout_kills_the_whole_process_tree(
    sandbox: LocalSandbox,
    root: Path,
    processes_with: Callable[[str], list[int]],
    wait_until: Callable[..., Awaitable[bool]],
) -> None:
    result = await sandbox.exec("sleep 987.651 & sleep 987.652; echo never", cwd=str(root), timeout_s=0.5)
    assert result.timed_out and result.exit_code == 137 and "never" not in result.stdout
    assert await wait_until(lambda: not processes_with("987.65"))


async def test_cancellation_kills_the_command(
    sandbox: LocalSandbox,
    root: Path,
    processes_with: Callable[[str], list[int]],
    wait_until: Callable[..., Awaitable[bool]],
) -> None:
    task = asyncio.create_task(sandbox.exec("sleep 987.653", cwd=str(root), timeout_s=60))
    assert await wait_until(lambda: bool(processes_with("987.653")))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await wait_until(lambda: not processes_with("987.653"))


async def test_python_and_node_run_inside(sandbox: LocalSandbox, root: Path) -> None:
    result = await sandbox.exec("python3 -c 'print(6*7)' && node -e 'console.log(6*7)'", cwd=str(root))
    assert result.stdout == "42\n42\n", result.stderr


async def test_extra_roots_are_writable_too(root: Path, tmp_path: Path, state_dir: str) -> None:
    extra = tmp_path / "extra"
    extra.mkdir()
    box = LocalSandbox(str(root), extra_roots=[str(extra)], state_dir=state_dir)
    result = await box.exec(f"echo shared > {extra}/note.txt && cd {extra}", cwd=str(root))
    assert result.exit_code == 0 and (extra / "note.txt").read_text() == "shared\n"
    assert result.cwd == str(extra) and box.extra_roots == (str(extra.resolve()),)
    await box.close()


async def test_missing_bwrap_refuses_with_install_hint_unless_opted_out(
    root: Path, state_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dexa.adapters.local_sandbox import bwrap

    monkeypatch.setattr(bwrap, "find_bwrap", lambda: None)
    bwrap.probe_bwrap.cache_clear()
    try:
        box = LocalSandbox(str(root), state_dir=state_dir)
        assert box.warning is None
        with pytest.raises(SandboxError, match="apt-get install bubblewrap") as err:
            await box.exec("echo hi", cwd=str(root))
        assert "unsandboxed" in err.value.message
        loose = LocalSandbox(str(root), unsandboxed=True, state_dir=state_dir)
        assert loose.warning is not None and "UNSANDBOXED" in loose.warning
        result = await loose.exec("echo hi; cd /tmp", cwd=str(root))
        assert result.stdout == "hi\n" and result.cwd == "/tmp"
        await loose.close()
    finally:
        bwrap.probe_bwrap.cache_clear()


async def test_unsandboxed_mode_still_hides_the_host_environment(
    root: Path, state_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test-secret")
    box = LocalSandbox(str(root), unsandboxed=True, state_dir=state_dir)
    result = await box.exec("env", cwd=str(root))
    assert "sk-test-secret" not in result.stdout and "ANTHROPIC" not in result.stdout


@pytest.mark.parametrize("bad_root", ["/", "/usr", "/etc"])
async def test_system_directories_cannot_be_workspace_roots(bad_root: str, state_dir: str) -> None:
    with pytest.raises(SandboxError, match="would expose the system"):
        LocalSandbox(bad_root, state_dir=state_dir)


async def test_state_dir_inside_the_workspace_is_refused(root: Path) -> None:
    with pytest.raises(SandboxError, match="must be outside the workspace"):
        LocalSandbox(str(root), state_dir=str(root / ".dexa" / "state"))


@pytest.mark.parametrize("job_id", [None, "toolu_yes"])
async def test_runaway_output_is_capped_and_the_command_killed(
    sandbox: LocalSandbox, root: Path, monkeypatch: pytest.MonkeyPatch, job_id: str | None
) -> None:
    from dexa.adapters.local_sandbox import launch

    monkeypatch.setattr(launch, "MAX_OUTPUT_BYTES", 1 << 20)
    result = await sandbox.exec("yes", cwd=str(root), timeout_s=30, job_id=job_id)
    assert result.exit_code == 137 and not result.timed_out
    assert "and was killed" in result.stderr and "bytes omitted" in result.stdout
