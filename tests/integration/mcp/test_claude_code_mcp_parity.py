"""MCP parity with the real thing: Claude Code 2.1.331 (tools/claude-code) and `dexa run` run the same scripted
session against the same loopback Messages API, with server-everything configured by `--mcp-config`.

An allowed tool (`mcp__everything__echo`) returns the echo in both; a tool no rule allows
(`mcp__everything__get-sum`) is denied headlessly and reported in `permission_denials` by both; both init messages
list the server as connected.

Claude Code defers MCP schemas: the request names them in its system prompt and declares only a placeholder tool.
The loopback server answers only with tools a request declares (the real API's rule), so here it also accepts the
`mcp__…` names the system prompt lists: the model calling a tool it was told about.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from dexa.testing import fake_responses, messages_api
from dexa.testing.messages_api import serve
from dexa.testing.script import Script

REPO = Path(__file__).resolve().parents[3]
CLAUDE = Path(os.environ.get("DEXA_CLAUDE_BIN") or REPO / "tools/claude-code/node_modules/.bin/claude")
EVERYTHING = REPO / "tools/mcp/node_modules/@modelcontextprotocol/server-everything/dist/index.js"

pytestmark = [
    pytest.mark.skipif(not CLAUDE.exists(), reason="Claude Code not installed: make test-deps (tools/claude-code)"),
    pytest.mark.skipif(not EVERYTHING.is_file() or shutil.which("node") is None, reason="npm ci in tools/mcp"),
]

TURNS = [
    {"tool_uses": [{"name": "mcp__everything__echo", "input": {"message": "hello echo"}}]},
    {"tool_uses": [{"name": "mcp__everything__get-sum", "input": {"a": 1, "b": 2}}]},
    {"text": "done"},
]
_LISTED = re.compile(r"^(mcp__[A-Za-z0-9_-]+)$", re.MULTILINE)


@pytest.fixture
def deferred_names_callable(monkeypatch: pytest.MonkeyPatch) -> None:
    original = fake_responses.render_message

    def render(script: Script, index: int, body: Mapping[str, Any], **kw: Any) -> Any:
        # The list sits in a system text, which this Claude Code sends as a message with the role "system".
        prompt = json.dumps([body.get("system", ""), body.get("messages", [])])
        listed = _LISTED.findall(prompt.replace("\\n", "\n"))
        tools = [*body.get("tools", []), *({"name": n} for n in listed)]
        return original(script, index, {**body, "tools": tools}, **kw)

    monkeypatch.setattr(messages_api, "render_message", render)


def _run(cmd: list[str], ws: Path, env: dict[str, str]) -> tuple[list[dict[str, Any]], int, str]:
    with serve(Script.from_dict({"turns": TURNS})) as server:
        done = subprocess.run(
            cmd,
            cwd=ws,
            env={**env, "ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "x"},
            capture_output=True,
            text=True,
            timeout=180,
        )
        requests = len(server.message_requests())
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines and lines[-1]["type"] == "result", done.stderr[-3000:]
    return lines, requests, done.stderr


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
    return str(content)


def test_an_allowed_and_a_denied_mcp_tool_behave_as_in_claude_code(
    tmp_path: Path, deferred_names_callable: None
) -> None:
    config = tmp_path / "mcp.json"
    config.write_text(json.dumps({"mcpServers": {"everything": {"command": "node", "args": [str(EVERYTHING)]}}}))
    args = ["-p", "echo please", "--output-format", "stream-json", "--verbose", "--mcp-config", str(config),
            "--allowedTools", "mcp__everything__echo"]  # fmt: skip
    cc_ws, dx_ws = tmp_path / "cc", tmp_path / "dexa"
    for ws in (cc_ws, dx_ws, tmp_path / "cc-home"):
        ws.mkdir()
    cc, cc_requests, _ = _run(
        [str(CLAUDE), *args],
        cc_ws,
        {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8", "HOME": str(tmp_path / "cc-home"),
         "DISABLE_AUTOUPDATER": "1"},
    )  # fmt: skip
    dx, dx_requests, dx_err = _run(
        [sys.executable, "-m", "dexa.cli", "run", *args],
        dx_ws,
        {**os.environ, "DEXA_HOME": str(tmp_path / "dexa-home")},
    )
    for lines in (cc, dx):
        init = lines[0]
        assert init["type"] == "system" and init["subtype"] == "init"
        assert {"name": "everything", "status": "connected", "source": "dynamic"} in init["mcp_servers"]
        assert "mcp__everything__echo" in init["tools"]
        outputs = [b for m in lines if m["type"] == "user" for b in m["message"]["content"]]
        assert _text(outputs[0]["content"]) == "Echo: hello echo" and not outputs[0].get("is_error")
        assert outputs[1]["is_error"] and "mcp__everything__get-sum" in _text(outputs[1]["content"])
    cc_result, dx_result = cc[-1], dx[-1]
    assert dx_result["result"] == cc_result["result"] == "done"
    assert dx_result["num_turns"] == cc_result["num_turns"]
    assert dx_requests == cc_requests == 3
    denied = [(d["tool_name"], d["tool_input"]) for d in cc_result["permission_denials"]]
    assert denied == [("mcp__everything__get-sum", {"a": 1, "b": 2})]
    assert [(d["tool_name"], d["tool_input"]) for d in dx_result["permission_denials"]] == denied, dx_err[-2000:]
