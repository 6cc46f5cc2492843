"""A custom tool through an SDK MCP server: the official Python Agent SDK's `@tool` + `create_sdk_mcp_server`
example with `dexa` as its CLI. The tool's function runs in the SDK's process; Dexa reaches it over `mcp_message`
control requests, so the model's direct `mcp__calc__add` call must come back with what that function returned.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from dexa.testing.messages_api import FakeMessagesServer, serve
from dexa.testing.script import Script

sdk = pytest.importorskip("claude_agent_sdk", reason="claude-agent-sdk not installed (test dependency)")

DEADLINE_S = 60


def _options(tmp_path: Path, server: FakeMessagesServer, **kw: Any) -> Any:
    cli = tmp_path / "dexa-cli"
    cli.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m dexa.cli "$@"\n')
    cli.chmod(cli.stat().st_mode | stat.S_IXUSR)
    ws = tmp_path / "ws"
    ws.mkdir(exist_ok=True)
    env = {
        "ANTHROPIC_BASE_URL": server.url,
        "ANTHROPIC_API_KEY": "sk-test",
        "DEXA_HOME": str(tmp_path / "home"),
        "HOME": str(tmp_path / "userhome"),
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    return sdk.ClaudeAgentOptions(cli_path=str(cli), cwd=str(ws), env=env, **kw)


async def _collect(messages: AsyncIterator[Any]) -> list[Any]:
    out: list[Any] = []
    with anyio.fail_after(DEADLINE_S):
        async for m in messages:
            out.append(m)
    return out


def _calc_server(calls: list[dict[str, Any]]) -> Any:
    @sdk.tool("add", "Add two numbers", {"a": float, "b": float})
    async def add(args: dict[str, Any]) -> dict[str, Any]:
        calls.append(args)
        return {"content": [{"type": "text", "text": f"SUM-FROM-SDK={args['a'] + args['b']}"}]}

    @sdk.tool("explode", "Always fails", {})
    async def explode(args: dict[str, Any]) -> dict[str, Any]:
        return {"content": [{"type": "text", "text": "calculator on fire"}], "is_error": True}

    return sdk.create_sdk_mcp_server(name="calc", version="1.0.0", tools=[add, explode])


def _tool_results(server: FakeMessagesServer) -> dict[str, tuple[str, bool]]:
    """tool_use name -> (result text, is_error), from what the model was sent."""
    names: dict[str, str] = {}
    out: dict[str, tuple[str, bool]] = {}
    for body in server.message_requests():
        for m in body["messages"]:
            for b in m["content"] if isinstance(m["content"], list) else []:
                if b.get("type") == "tool_use":
                    names[b["id"]] = b["name"]
                elif b.get("type") == "tool_result":
                    c = b.get("content")
                    text = c if isinstance(c, str) else "".join(x.get("text", "") for x in c or [])
                    out[names[b["tool_use_id"]]] = (text, bool(b.get("is_error")))
    return out


def test_a_custom_sdk_tool_is_called_by_name_and_returns_the_functions_result(tmp_path: Path) -> None:
    script = {
        "turns": [
            {
                "tool_uses": [
                    {"name": "mcp__calc__add", "input": {"a": 2, "b": 40}},
                    {"name": "mcp__calc__explode", "input": {}},
                ]
            },
            {"text": "the sum is 42"},
        ]
    }
    calls: list[dict[str, Any]] = []
    with serve(Script.from_dict(script)) as server:

        async def main() -> list[Any]:
            options = _options(
                tmp_path,
                server,
                mcp_servers={"calc": _calc_server(calls)},
                allowed_tools=["mcp__calc__add", "mcp__calc__explode"],
            )
            async with sdk.ClaudeSDKClient(options) as client:
                await client.query("add 2 and 40")
                return await _collect(client.receive_response())

        messages = anyio.run(main)
        results = _tool_results(server)
        offered = {t["name"] for t in server.message_requests()[0].get("tools", [])}
    assert calls == [{"a": 2, "b": 40}]
    assert {"mcp__calc__add", "mcp__calc__explode"} <= offered
    assert results["mcp__calc__add"] == ("SUM-FROM-SDK=42", False)
    assert results["mcp__calc__explode"] == ("calculator on fire", True)
    init = next(m for m in messages if isinstance(m, sdk.SystemMessage) and m.subtype == "init")
    assert {"name": "calc", "status": "connected"} in init.data["mcp_servers"]
    assert "mcp__calc__add" in init.data["tools"]
    (result,) = [m for m in messages if isinstance(m, sdk.ResultMessage)]
    assert result.result == "the sum is 42" and not result.is_error


def test_an_sdk_tool_not_allowed_is_denied_in_a_headless_session(tmp_path: Path) -> None:
    script = {"turns": [{"tool_uses": [{"name": "mcp__calc__add", "input": {"a": 1, "b": 1}}]}, {"text": "denied"}]}
    calls: list[dict[str, Any]] = []
    with serve(Script.from_dict(script)) as server:

        async def main() -> list[Any]:
            options = _options(tmp_path, server, mcp_servers={"calc": _calc_server(calls)})
            return await _collect(sdk.query(prompt="add 1 and 1", options=options))

        messages = anyio.run(main)
    assert calls == []
    (result,) = [m for m in messages if isinstance(m, sdk.ResultMessage)]
    assert [d["tool_name"] for d in result.permission_denials or []] == ["mcp__calc__add"]


TS_TOOLS = Path(__file__).resolve().parents[3] / "tools" / "agent-sdk"


@pytest.mark.skipif(
    not (TS_TOOLS / "node_modules" / "@anthropic-ai" / "claude-agent-sdk").exists() or shutil.which("node") is None,
    reason="TypeScript Agent SDK not installed: (cd tools/agent-sdk && npm ci)",
)
def test_the_typescript_sdks_custom_tool_example(tmp_path: Path) -> None:
    """The TypeScript SDK names its servers in initialize's `sdkMcpServers`, not in --mcp-config."""
    script = {"turns": [{"tool_uses": [{"name": "mcp__calc__add", "input": {"a": 2, "b": 40}}]}, {"text": "42"}]}
    ws = tmp_path / "ws"
    ws.mkdir()
    cli = tmp_path / "dexa-cli"
    cli.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m dexa.cli "$@"\n')
    cli.chmod(cli.stat().st_mode | stat.S_IXUSR)
    with serve(Script.from_dict(script)) as server:
        done = subprocess.run(
            ["node", str(TS_TOOLS / "examples.mjs"), "custom-tool", str(cli), str(ws)],
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
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["calls"] == [{"a": 2, "b": 40}]
    assert seen["tool_results"] == [{"is_error": False, "content": "SUM-FROM-SDK=42"}]
    assert {"name": "calc", "status": "connected"} in seen["init"]["mcp_servers"]
    assert [r["result"] for r in seen["results"]] == ["42"]
