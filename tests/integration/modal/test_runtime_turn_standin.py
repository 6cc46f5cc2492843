"""A real turn through build_runtime with DEXA_SANDBOX=modal: Bash and Write land in the session's Modal workspace
(the stand-in), the workspace outlives its sandbox, and a rewind restores files there."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from dexa.adapters.modal import ModalSandbox
from dexa.settings import DexaSettings
from dexa.wiring import build_runtime


def test_a_turn_runs_its_tools_in_the_modal_workspace_and_rewinds_there(
    standin: Any, fake_modal: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env = {k: v for k, v in standin.lambda_env().items() if k != "PYTHONPATH"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setitem(sys.modules, "modal", fake_modal)  # what PYTHONPATH does for the emulated Lambdas
    script = tmp_path / "script.json"
    bash = "mkdir -p /workspace/repo && cd /workspace/repo && echo from-bash > built.txt && hostname"
    write = {"file_path": "/workspace/repo/notes.md", "content": "written by the agent\n"}
    script.write_text(
        json.dumps(
            {
                "turns": [
                    {"tool_uses": [{"name": "Bash", "input": {"command": bash}}]},
                    {"tool_uses": [{"name": "Write", "input": write}]},
                    {"text": "done"},
                ]
            }
        )
    )
    settings = DexaSettings(home=tmp_path / "home", sandbox="modal", hosted=True)
    runtime = build_runtime(settings, env={**env, "HOME": str(tmp_path)})

    async def main() -> None:
        try:
            session = await runtime.create_session(
                cwd="/workspace", model=f"scripted:{script}", permission_mode="bypassPermissions"
            )
            await runtime.engine.submit(session.id, "build it")
            done = await runtime.driver.run(session.id)
            assert done.result == "done", done
            ws = (await runtime.envs.env_for(done)).workspace
            assert isinstance(ws, ModalSandbox)
            assert await ws.read_bytes("/workspace/repo/built.txt") == b"from-bash\n"
            events = [e.type for e in await runtime.store.read_events(session.id)]
            assert "tool.completed" in events
            outputs = [
                e.data
                for e in await runtime.store.read_events(session.id)
                if e.type == "tool.completed" and e.data.get("name") == "Bash"
            ]
            assert [o["data"]["stdout"] for o in outputs] == ["modal\n"]  # the sandbox's hostname: it ran there

            # The sandbox idles out; the next command finds the files, and a rewind restores them there.
            standin.expire(name=ws.sandbox_name)
            checkpoints = await runtime.checkpoints.list_checkpoints(session.id)
            first = checkpoints[-1]["id"]  # the prompt's checkpoint, before any tool ran
            report = await runtime.checkpoints.rewind(session.id, checkpoint_id=first, mode="code", on_conflict="ask")
            assert report["status"] == "ok", report
            assert sorted(report["deleted"]) == ["repo/built.txt", "repo/notes.md"]
            assert not await ws.exists("/workspace/repo/notes.md")
            kinds = [e.data.get("code") for e in await runtime.store.read_events(session.id) if e.type == "warning"]
            assert "workspace_restored" in kinds
        finally:
            await runtime.aclose()

    asyncio.run(main())
