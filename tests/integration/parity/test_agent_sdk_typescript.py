"""The official TypeScript Claude Agent SDK (`@anthropic-ai/claude-agent-sdk`, pinned in tools/agent-sdk) runs its
documented examples with `dexa` as the CLI (`pathToClaudeCodeExecutable`): a query, a multi-turn prompt stream,
`canUseTool`, a hook and an interrupt. tools/agent-sdk/examples.mjs runs one example and prints what it saw."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dexa.testing.messages_api import serve
from dexa.testing.script import Script

TOOLS = Path(__file__).resolve().parents[3] / "tools" / "agent-sdk"
SDK = TOOLS / "node_modules" / "@anthropic-ai" / "claude-agent-sdk"

pytestmark = pytest.mark.skipif(
    not SDK.exists() or shutil.which("node") is None,
    reason="TypeScript Agent SDK not installed: (cd tools/agent-sdk && npm ci)",
)


def _example(tmp_path: Path, name: str, script: dict[str, Any]) -> dict[str, Any]:
    ws = tmp_path / "ws"
    ws.mkdir(exist_ok=True)
    cli = tmp_path / "dexa-cli"
    cli.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m dexa.cli "$@"\n')
    cli.chmod(cli.stat().st_mode | stat.S_IXUSR)
    with serve(Script.from_dict(script)) as server:
        done = subprocess.run(
            ["node", str(TOOLS / "examples.mjs"), name, str(cli), str(ws)],
            env={
                **os.environ,
                "ANTHROPIC_BASE_URL": server.url,
                "ANTHROPIC_API_KEY": "sk-test",
                "DEXA_HOME": str(tmp_path / "home"),
                "HOME": str(tmp_path / "userhome"),
            },
            capture_output=True,
            text=True,
            timeout=90,
        )
    assert done.returncode == 0, (done.stdout[-1000:], done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_query(tmp_path: Path) -> None:
    seen = _example(tmp_path, "query", {"turns": [{"text": "four"}]})
    (result,) = seen["results"]
    assert result["subtype"] == "success" and result["result"] == "four"
    (usage,) = result["modelUsage"].values()
    assert usage["costUSD"] > 0 and result["duration_api_ms"] > 0
    assert seen["init"]["claude_code_version"].count(".") == 2


def test_multi_turn_prompt_stream(tmp_path: Path) -> None:
    seen = _example(tmp_path, "multi-turn", {"turns": [{"text": "first answer"}, {"text": "second answer"}]})
    assert [r["result"] for r in seen["results"]] == ["first answer", "second answer"]
    assert len({r["session_id"] for r in seen["results"]}) == 1


def test_can_use_tool(tmp_path: Path) -> None:
    script = {
        "turns": [
            {"tool_uses": [{"name": "Bash", "input": {"command": "touch made.txt"}}]},
            {"tool_uses": [{"name": "Bash", "input": {"command": "rm -f made.txt"}}]},
            {"text": "done"},
        ]
    }
    seen = _example(tmp_path, "can-use-tool", script)
    assert seen["asked"] == ["touch made.txt", "rm -f made.txt"]
    assert (tmp_path / "ws" / "made.txt").exists()
    allowed, denied = seen["tool_results"]
    assert not allowed["is_error"] and denied["is_error"] and "no deleting" in denied["content"]


def test_hook(tmp_path: Path) -> None:
    script = {"turns": [{"tool_uses": [{"name": "Bash", "input": {"command": "echo hooked"}}]}, {"text": "ok"}]}
    seen = _example(tmp_path, "hook", script)
    assert seen["seen"] == [{"event": "PreToolUse", "tool": "Bash", "input": {"command": "echo hooked"}}]
    (denied,) = seen["tool_results"]
    assert denied["is_error"] and "echo is off limits today" in denied["content"]


def test_interrupt(tmp_path: Path) -> None:
    seen = _example(tmp_path, "interrupt", {"turns": [{"text": "slow " * 40, "delay_ms": 800}]})
    interrupted, after = seen["results"]
    assert interrupted["is_error"] and interrupted["subtype"] == "error_during_execution"
    assert not after["is_error"] and after["session_id"] == interrupted["session_id"]
    assert seen["partial"] >= 1 and seen["interrupt_ms"] < 3000
