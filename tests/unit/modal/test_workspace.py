"""ModalSandbox: the Workspace behaviours on the fake modal surface, and (marked `modal`) on real Modal."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fake_modal import FakeModal

from dexa.adapters.modal import ModalSandbox, require_token
from dexa.core.errors import ConfigError, SandboxError

MakeFake = Callable[..., ModalSandbox]


def _p(ws: ModalSandbox, *parts: str) -> str:
    return "/".join([ws.root, *parts])


# ---------------------------------------------------------------- behaviour (fake and real)


def test_exec_reports_output_exit_code_and_the_final_directory(workspace: ModalSandbox) -> None:
    async def main() -> None:
        await workspace.write_bytes(_p(workspace, "sub", "f.txt"), b"x")
        result = await workspace.exec("echo out; echo err >&2; cd sub; exit 3", cwd=workspace.root)
        assert (result.exit_code, result.stdout, result.stderr.strip()) == (3, "out\n", "err")
        assert result.cwd == _p(workspace, "sub") and not result.timed_out

    asyncio.run(main())


def test_exec_times_out_and_kills_the_command(workspace: ModalSandbox) -> None:
    async def main() -> None:
        started = time.monotonic()
        result = await workspace.exec("echo begin; sleep 30; echo never", cwd=workspace.root, timeout_s=0.5)
        assert result.timed_out and result.exit_code == 137 and "never" not in result.stdout
        assert time.monotonic() - started < 15

    asyncio.run(main())


def test_a_journaled_command_runs_once_and_is_recoverable(workspace: ModalSandbox) -> None:
    async def main() -> None:
        cmd = "echo run >> count.txt; wc -l < count.txt"
        first = await workspace.exec(cmd, cwd=workspace.root, job_id="toolu_1")
        again = await workspace.exec(cmd, cwd=workspace.root, job_id="toolu_1")
        assert first.stdout.strip() == again.stdout.strip() == "1"
        assert (await workspace.read_bytes(_p(workspace, "count.txt"))) == b"run\n"
        recovered = await workspace.recover("toolu_1")
        assert recovered is not None and recovered.stdout.strip() == "1" and recovered.exit_code == 0
        assert await workspace.recover("never-started") is None

    asyncio.run(main())


def test_background_jobs_stream_output_and_can_be_killed(workspace: ModalSandbox) -> None:
    async def main() -> None:
        job = await workspace.start_background("for i in 1 2 3; do echo line$i; done", cwd=workspace.root, job_id="bg1")
        assert job.job_id == "bg1"
        done = await workspace.poll_background("bg1", wait_s=10)
        assert not done.running and done.exit_code == 0 and done.output == "line1\nline2\nline3\n"
        tail = await workspace.poll_background("bg1", since=6)
        assert tail.output == "line2\nline3\n" and tail.output_offset == done.output_offset
        await workspace.start_background("echo started; sleep 60", cwd=workspace.root, job_id="bg2")
        killed = await workspace.kill_background("bg2")
        assert not killed.running and killed.exit_code == 137
        with pytest.raises(SandboxError, match="No background job"):
            await workspace.poll_background("nope")

    asyncio.run(main())


def test_file_operations_stay_inside_the_workspace(workspace: ModalSandbox) -> None:
    async def main() -> None:
        path = _p(workspace, "a", "b", "c.txt")
        await workspace.write_bytes(path, b"hello")
        assert await workspace.read_bytes(path) == b"hello"
        assert await workspace.exists(path) and not await workspace.is_dir(path)
        assert await workspace.is_dir(_p(workspace, "a"))
        walked = await workspace.walk(workspace.root)
        assert path in walked and not any("/.dexa/" in p for p in walked)  # journals and marker stay hidden
        await workspace.remove(_p(workspace, "a"))
        assert not await workspace.exists(path)
        with pytest.raises(FileNotFoundError):
            await workspace.read_bytes(path)
        for bad in ("/etc/passwd", _p(workspace, "..", "escape"), "relative.txt", workspace.marker_path):
            with pytest.raises(SandboxError):
                await workspace.read_bytes(bad)
        with pytest.raises(SandboxError):
            await workspace.remove(workspace.root)

    asyncio.run(main())


def test_foreground_output_streams_while_the_command_runs(workspace: ModalSandbox) -> None:
    seen: list[tuple[float, str]] = []

    async def sink(chunk: str) -> None:
        seen.append((time.monotonic(), chunk))

    async def main() -> float:
        started = time.monotonic()
        result = await workspace.exec("echo first; sleep 1; echo second", cwd=workspace.root, on_output=sink)
        assert result.stdout == "first\nsecond\n"
        return started

    started = asyncio.run(main())
    text = "".join(chunk for _, chunk in seen)
    assert text == "first\nsecond\n"
    first_at = next(at for at, chunk in seen if "first" in chunk)
    assert first_at - started < 0.9  # arrived before the command finished


# ---------------------------------------------------------------- the sandbox's policy (fake: inspects create)


def test_the_sandbox_is_named_per_session_isolated_and_holds_no_secrets(make_fake: MakeFake, fake: FakeModal) -> None:
    ws = make_fake("ses_42", idle_timeout_s=300)
    asyncio.run(ws.exec("true", cwd=ws.root))
    (sandbox,) = fake.created
    assert sandbox.name == "dexa-ses_42"
    options = sandbox.options
    assert options["block_network"] is True and "outbound_cidr_allowlist" not in options
    assert options["secrets"] == [] and options["env"] == {}
    assert options["idle_timeout"] == 300 and options["tags"]["session"] == "ses_42"
    assert options["app"] == "dexa-sandbox" and options["image"].steps[0][0] == "debian_slim"


def test_network_is_an_allowlist_when_policy_grants_ranges(make_fake: MakeFake, fake: FakeModal) -> None:
    asyncio.run(make_fake("ses_a", cidr_allowlist=["140.82.112.0/20"]).exec("true", cwd=make_fake().root))
    asyncio.run(make_fake("ses_b", network=True).exec("true", cwd=make_fake().root))
    allow, full = fake.created
    assert allow.options["outbound_cidr_allowlist"] == ["140.82.112.0/20"] and "block_network" not in allow.options
    assert "block_network" not in full.options and "outbound_cidr_allowlist" not in full.options


def test_a_session_without_network_still_reaches_the_git_proxy_host_only(make_fake: MakeFake, fake: FakeModal) -> None:
    asyncio.run(make_fake("ses_g", domain_allowlist=["api.dexa.test"]).exec("true", cwd=make_fake().root))
    (sandbox,) = fake.created
    assert sandbox.options["outbound_domain_allowlist"] == ["api.dexa.test"]
    assert "block_network" not in sandbox.options and "outbound_cidr_allowlist" not in sandbox.options


def test_credentials_in_the_environment_never_reach_the_sandbox(make_fake: MakeFake, fake: FakeModal) -> None:
    ws = make_fake()
    env = {"AWS_SECRET_ACCESS_KEY": "s", "ANTHROPIC_API_KEY": "k", "GITHUB_TOKEN": "t", "DB_PASSWORD": "p", "CI": "1"}
    result = asyncio.run(ws.exec("env", cwd=ws.root, env=env))
    assert "CI=1" in result.stdout
    for leaked in ("AWS_SECRET", "ANTHROPIC", "GITHUB_TOKEN", "DB_PASSWORD"):
        assert leaked not in result.stdout
    passed = [call[2] for call in fake.created[0].calls if call[0] == "exec"]
    assert all("ANTHROPIC_API_KEY" not in e for e in passed)


def test_a_second_lambda_reattaches_and_racing_creators_share_one_sandbox(make_fake: MakeFake, fake: FakeModal) -> None:
    async def main() -> None:
        a, b, c = make_fake(), make_fake(), make_fake()
        await asyncio.gather(a.sandbox(), b.sandbox())
        assert len(fake.created) == 1 and await c.sandbox() is fake.created[0]
        await a.write_bytes(a.root + "/shared.txt", b"1")
        assert await c.read_bytes(c.root + "/shared.txt") == b"1"

    asyncio.run(main())


def test_close_detaches_but_terminate_ends_the_sandbox(make_fake: MakeFake, fake: FakeModal) -> None:
    async def main() -> None:
        ws = make_fake()
        await ws.exec("true", cwd=ws.root)
        await ws.close()
        assert fake.sandboxes and ("detach", None) in fake.created[0].calls
        await ws.terminate()
        assert not fake.sandboxes and fake.created[0].terminated
        await ws.terminate()  # idempotent
        await ws.exec("true", cwd=ws.root)  # a later use starts a fresh sandbox
        assert len(fake.created) == 2

    asyncio.run(main())


def test_an_ended_sandbox_is_replaced_on_the_volume_and_the_restore_is_reported(
    make_fake: MakeFake, fake: FakeModal
) -> None:
    events: list[tuple[str, dict[str, Any]]] = []

    async def on_event(type_: str, data: Any) -> None:
        events.append((type_, dict(data)))

    async def main() -> None:
        ws = make_fake(on_event=on_event)
        await ws.write_bytes(ws.root + "/keep.txt", b"kept")
        fake.created[0].terminated = True  # Modal's idle timeout: the handle this Lambda holds is now stale
        fake.sandboxes.clear()
        assert (await ws.exec("cat keep.txt", cwd=ws.root)).stdout == "kept"
        assert len(fake.created) == 2 and ws.restarts == 1
        assert fake.created[1].options["volumes"] == {ws.mount: fake.volumes[ws.volume_name]}
        assert [e[1]["code"] for e in events] == ["workspace_restored"]
        other = make_fake(record=ws.record)  # another Lambda, same session record: attaches, no restore
        assert (await other.exec("cat keep.txt", cwd=ws.root)).stdout == "kept" and other.restarts == 0

    asyncio.run(main())


def test_a_lost_volume_is_an_error_never_a_silent_empty_workspace(make_fake: MakeFake, fake: FakeModal) -> None:
    events: list[tuple[str, dict[str, Any]]] = []

    async def on_event(type_: str, data: Any) -> None:
        events.append((type_, dict(data)))

    async def main() -> None:
        ws = make_fake(on_event=on_event)
        await ws.exec("true", cwd=ws.root)
        await ws.terminate()
        fake.volumes.clear()  # the volume was deleted
        with pytest.raises(SandboxError, match="cannot be restored: its volume dexa-ws-ses_1") as info:
            await ws.exec("true", cwd=ws.root)
        assert info.value.code == "workspace_lost" and events[-1][0] == "error"
        assert len(fake.created) == 1  # no empty sandbox was started

        fresh = make_fake("ses_2", on_event=on_event)
        await fresh.exec("true", cwd=fresh.root)
        await fresh.terminate()
        os.unlink(fresh.marker_path)  # the volume is there but holds another (or no) workspace
        with pytest.raises(SandboxError, match="does not hold this session's workspace marker"):
            await fresh.exec("true", cwd=fresh.root)
        assert not fake.sandboxes  # the sandbox started to check it was terminated again

    asyncio.run(main())


def test_a_journaled_command_survives_a_sandbox_restart(make_fake: MakeFake, fake: FakeModal) -> None:
    async def main() -> None:
        ws = make_fake()
        first = await ws.exec("echo once >> n.txt; echo done", cwd=ws.root, job_id="toolu_9")
        fake.created[0].terminated = True
        fake.sandboxes.clear()
        again = await ws.recover("toolu_9")
        assert again is not None and again.stdout == first.stdout == "done\n"
        assert (await ws.read_bytes(ws.root + "/n.txt")) == b"once\n"

    asyncio.run(main())


def test_no_token_is_a_config_error_naming_the_secret_only_when_a_workspace_is_needed(tmp_path: Path) -> None:
    ws = ModalSandbox("ses_x", env={"HOME": str(tmp_path)})  # constructing needs no token
    with pytest.raises(ConfigError, match="DEXA_MODAL_SECRET_ARN"):
        asyncio.run(ws.exec("true", cwd=ws.root))
    require_token({"MODAL_TOKEN_ID": "a", "MODAL_TOKEN_SECRET": "b"})
    (tmp_path / ".modal.toml").write_text("[default]\n")
    require_token({"HOME": str(tmp_path)})


def test_modal_is_not_imported_until_a_sandbox_is_needed() -> None:
    import subprocess
    import sys

    code = "import sys, dexa.adapters.modal as m; m.ModalSandbox('s'); print('modal' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_image_has_the_toolchains_and_no_secrets() -> None:
    from dexa.adapters.modal import sandbox_image
    from dexa.adapters.modal.image import APT_PACKAGES

    image: Any = sandbox_image(FakeModal())
    names = [name for name, _ in image.steps]
    assert names[0] == "debian_slim" and "apt_install" in names
    assert {"git", "ripgrep", "postgresql", "redis-server", "openjdk-17-jdk-headless"} <= set(APT_PACKAGES)
    assert not any("secret" in name.lower() for name in names)
    # The toolchain list's steps are installed, check-tools is copied in and on PATH, and the build checks them all.
    runs = [cmd for name, args in image.steps if name == "run_commands" for cmd in args]
    assert any("nodejs.org/dist" in r for r in runs) and any("rustup" in r for r in runs)
    assert any("bun.sh/install" in r for r in runs) and any("go.dev/dl" in r for r in runs)
    assert runs[-1].endswith("check-tools --strict")
    [copied] = [args for name, args in image.steps if name == "add_local_dir"]
    assert copied[1] == "/opt/dexa/bin" and ("copy", True) in copied
    envs = [dict(args[0]) for name, args in image.steps if name == "env"]
    assert any(e.get("PATH", "").startswith("/opt/dexa/bin:") for e in envs)
