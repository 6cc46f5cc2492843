"""MCP configured the Claude Code way, entered where users enter: `python -m dexa.cli run … --mcp-config …` with a
scripted model, against real servers (PyPI mcp-server-time, npm server-everything from tools/mcp).

What Claude Code 2.1.331 does on the same sessions (observed against the loopback Messages API):
- a configured server's tool is callable by name on the first turn, without any loading step;
- the init message lists every server with its status, and skipped entries under `mcp_server_errors`;
- an MCP tool no rule allows is denied headlessly and reported in `permission_denials`;
- a missing / unparsable `--mcp-config` stops with "Invalid MCP configuration:" and exit 1.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
EVERYTHING = REPO / "tools/mcp/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
TIME = {"command": sys.executable, "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"]}


def _run(
    tmp_path: Path, turns: list[dict[str, Any]], *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    ws = tmp_path / "ws"
    ws.mkdir(exist_ok=True)
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"turns": turns}))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "dexa.cli",
            "run",
            "-p",
            "go",
            "--model",
            f"scripted:{script}",
            "--output-format",
            "stream-json",
            "--verbose",
            *args,
        ],
        cwd=ws,
        env={**os.environ, "DEXA_HOME": str(tmp_path / "home"), **(env or {})},
        capture_output=True,
        text=True,
        timeout=180,
    )
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    return out, lines


def _config(tmp_path: Path, servers: dict[str, Any]) -> str:
    path = tmp_path / "mcp.json"
    path.write_text(json.dumps({"mcpServers": servers}))
    return str(path)


def _results(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b for m in lines if m["type"] == "user" for b in m["message"]["content"] if b.get("type") == "tool_result"]


def _init(lines: list[dict[str, Any]]) -> dict[str, Any]:
    return next(m for m in lines if m["type"] == "system" and m.get("subtype") == "init")


@pytest.fixture
def everything() -> str:
    if shutil.which("node") is None:
        pytest.skip("node is not installed: server-everything needs Node.js 20+")
    if not EVERYTHING.is_file():
        pytest.skip(f"server-everything is not installed at {EVERYTHING}: run `npm ci` in tools/mcp")
    return str(EVERYTHING)


def test_a_configured_servers_tool_is_callable_by_name_on_the_first_turn(tmp_path: Path) -> None:
    turns = [{"tool_uses": [{"name": "mcp__time__get_current_time", "input": {"timezone": "UTC"}}]}, {"text": "done"}]
    out, lines = _run(tmp_path, turns, "--mcp-config", _config(tmp_path, {"time": TIME}), "--allowedTools", "mcp__time")
    assert out.returncode == 0, out.stderr[-2000:]
    init = _init(lines)
    assert {"name": "time", "status": "connected", "source": "dynamic"} in init["mcp_servers"]
    assert "mcp__time__get_current_time" in init["tools"] and "LoadSourceTools" not in init["tools"]
    (result,) = _results(lines)
    assert not result["is_error"], result
    assert json.loads(result["content"])["timezone"] == "UTC"
    assert lines[-1]["subtype"] == "success" and lines[-1]["permission_denials"] == []


def test_server_everything_echo_allowed_and_a_tool_without_a_rule_denied_as_in_claude_code(
    tmp_path: Path, everything: str
) -> None:
    servers = {"everything": {"command": "node", "args": [everything]}}
    turns = [
        {"tool_uses": [{"name": "mcp__everything__echo", "input": {"message": "hello echo"}}]},
        {"tool_uses": [{"name": "mcp__everything__get-sum", "input": {"a": 1, "b": 2}}]},
        {"text": "done"},
    ]
    out, lines = _run(
        tmp_path, turns, "--mcp-config", _config(tmp_path, servers), "--allowedTools", "mcp__everything__echo"
    )
    assert out.returncode == 0, out.stderr[-2000:]
    echo, denied = _results(lines)
    assert echo["content"] == "Echo: hello echo" and not echo["is_error"]
    assert denied["is_error"] and "mcp__everything__get-sum" in denied["content"]
    assert [(d["tool_name"], d["tool_input"]) for d in lines[-1]["permission_denials"]] == [
        ("mcp__everything__get-sum", {"a": 1, "b": 2})
    ]
    assert lines[-1]["result"] == "done"


def test_a_server_that_fails_to_start_is_reported_and_the_session_goes_on(tmp_path: Path) -> None:
    servers = {
        "time": TIME,
        "broken": {"command": str(tmp_path / "no-such-server")},
        "typeless": {"url": "http://127.0.0.1:9/mcp"},
    }
    out, lines = _run(tmp_path, [{"text": "still here"}], "--mcp-config", _config(tmp_path, servers))
    assert out.returncode == 0, out.stderr[-2000:]
    init = _init(lines)
    statuses = {s["name"]: s["status"] for s in init["mcp_servers"]}
    assert statuses == {"time": "connected", "broken": "failed"}
    assert [(e["name"], e["type"]) for e in init["mcp_server_errors"]] == [("typeless", "url_missing_type")]
    failure = [line for line in out.stderr.splitlines() if "'broken'" in line]
    assert len(failure) == 1 and "no-such-server" in failure[0], out.stderr
    assert lines[-1]["result"] == "still here"


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        ("missing.json", "MCP config file not found: {ws}/missing.json"),
        ("broken.json", "MCP config is not a valid JSON"),
        ('{"mcpServers": {', 'MCP config file not found: {ws}/{{"mcpServers": {{'),
        ('{"servers": {}}', "mcpServers: Invalid input: expected record, received undefined"),
    ],
)
def test_a_bad_mcp_config_stops_with_claude_codes_message(tmp_path: Path, value: str, detail: str) -> None:
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "broken.json").write_text("{bad")
    out, _ = _run(tmp_path, [{"text": "never"}], "--mcp-config", value)
    assert out.returncode == 1
    expected = "Error: Invalid MCP configuration:\n" + detail.format(ws=tmp_path / "ws")
    # Compared without whitespace: the CLI's console may wrap a long path.
    assert "".join(expected.split()) in "".join(out.stderr.split()), out.stderr
    assert out.stderr.startswith("Error: Invalid MCP configuration:\n")


def test_with_every_source_held_back_a_direct_call_still_loads_its_server(tmp_path: Path) -> None:
    turns = [{"tool_uses": [{"name": "mcp__time__get_current_time", "input": {"timezone": "UTC"}}]}, {"text": "done"}]
    out, lines = _run(
        tmp_path,
        turns,
        "--mcp-config",
        _config(tmp_path, {"time": TIME}),
        "--allowedTools",
        "mcp__time",
        env={"DEXA_MCP_SOURCE_TOOLS": "on"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    init = _init(lines)
    assert "LoadSourceTools" in init["tools"] and "mcp__time__get_current_time" not in init["tools"]
    assert init["mcp_servers"] == [{"name": "time", "status": "pending", "source": "dynamic"}]
    (result,) = _results(lines)
    assert not result["is_error"] and json.loads(result["content"])["timezone"] == "UTC"


def test_source_tools_off_offers_no_meta_tools(tmp_path: Path) -> None:
    out, lines = _run(
        tmp_path,
        [{"text": "ok"}],
        "--mcp-config",
        _config(tmp_path, {"time": TIME}),
        env={"DEXA_MCP_SOURCE_TOOLS": "off"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    tools = _init(lines)["tools"]
    assert "mcp__time__convert_time" in tools and "LoadSourceTools" not in tools and "ListSources" not in tools


def test_a_large_servers_tools_are_listed_by_name_and_a_call_loads_their_schemas(tmp_path: Path) -> None:
    from dexa.testing.messages_api import serve
    from dexa.testing.script import Script

    call = {"name": "mcp__time__get_current_time"}
    turns = [
        {"tool_uses": [{**call, "input": {}}]},  # the model guesses: the real schema requires a timezone
        {"tool_uses": [{**call, "input": {"timezone": "UTC"}}]},
        {"text": "done"},
    ]
    ws = tmp_path / "ws"
    ws.mkdir()
    with serve(Script.from_dict({"turns": turns})) as server:
        out = subprocess.run(
            [sys.executable, "-m", "dexa.cli", "run", "-p", "time?", "--output-format", "stream-json", "--verbose",
             "--mcp-config", _config(tmp_path, {"time": TIME}), "--allowedTools", "mcp__time"],
            cwd=ws,
            env={**os.environ, "DEXA_HOME": str(tmp_path / "home"), "ANTHROPIC_BASE_URL": server.url,
                 "ANTHROPIC_API_KEY": "x", "DEXA_MCP_EAGER_SCHEMA_CHARS": "100"},
            capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        requests = server.message_requests()
    assert out.returncode == 0, out.stderr[-2000:]

    def schema(request: dict[str, Any]) -> dict[str, Any]:
        body = request.get("body", request)
        return next(t["input_schema"] for t in body["tools"] if t["name"] == "mcp__time__get_current_time")

    assert "timezone" not in json.dumps(schema(requests[0]))
    assert "timezone" in schema(requests[1])["properties"]
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    first, second = _results(lines)
    assert first["is_error"] and "timezone" in first["content"] and "now loaded" in first["content"]
    assert not second["is_error"] and json.loads(second["content"])["timezone"] == "UTC"
