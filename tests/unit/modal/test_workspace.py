"""ModalSandbox: the Workspace behaviours on the fake modal surface, and (marked `modal`) on real Modal."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from fake_modal import FakeModal

from dexa.adapters.modal import ModalSandbox
from dexa.core.errors import SandboxError

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
        assert path in await workspace.walk(workspace.root)
        await workspace.remove(_p(workspace, "a"))
        assert not await workspace.exists(path)
        with pytest.raises(FileNotFoundError):
            await workspace.read_bytes(path)
        for bad in ("/etc/passwd", _p(workspace, "..", "escape"), "relative.txt"):
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


def test_a_terminated_sandbox_fails_the_call_clearly_then_recovers(make_fake: MakeFake, fake: FakeModal) -> None:
    async def main() -> None:
        ws = make_fake()
        await ws.exec("true", cwd=ws.root)
        fake.created[0].terminated = True
        fake.sandboxes.clear()
        with pytest.raises(SandboxError, match="SandboxTerminatedError"):
            await ws.exec("true", cwd=ws.root)
        assert (await ws.exec("echo back", cwd=ws.root)).stdout == "back\n"

    asyncio.run(main())


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
    assert {"git", "ripgrep", "nodejs"} <= set(APT_PACKAGES)
    assert not any("secret" in name.lower() for name in names)
