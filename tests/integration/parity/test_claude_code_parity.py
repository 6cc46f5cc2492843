"""Parity with the real thing: Claude Code 2.1.331 (pinned in tools/claude-code) and `dexa run` execute the same
scripted session against the same loopback Messages API, and their headless outputs must agree in shape and outcome.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dexa.testing.messages_api import serve
from dexa.testing.script import Script

CLAUDE = Path(__file__).resolve().parents[3] / "tools" / "claude-code" / "node_modules" / ".bin" / "claude"
CLAUDE_BIN = os.environ.get("DEXA_CLAUDE_BIN") or str(CLAUDE)

pytestmark = pytest.mark.skipif(
    not Path(CLAUDE_BIN).exists(), reason="Claude Code not installed: make test-deps (tools/claude-code)"
)

RESULT_KEYS = {
    "type",
    "subtype",
    "is_error",
    "result",
    "session_id",
    "num_turns",
    "duration_ms",
    "total_cost_usd",
    "usage",
    "permission_denials",
}


def _script(ws: Path) -> dict[str, Any]:
    return {
        "turns": [
            {"text": "Echoing.", "tool_uses": [{"name": "Bash", "input": {"command": "echo parity"}}]},
            # Allowed by Bash(echo *) as a command, but the redirect is a file write: both must refuse it headless.
            {
                "text": "Writing a marker.",
                "tool_uses": [{"name": "Bash", "input": {"command": "echo parity > marker.txt"}}],
            },
            {
                "text": "Trying a command I am not allowed to run.",
                "tool_uses": [{"name": "Bash", "input": {"command": "curl https://example.com"}}],
            },
            {"tool_uses": [{"name": "Read", "input": {"file_path": str(ws / "README.md")}}]},
            {"text": "Done: echoed, and reported the refused write."},
        ]
    }


def _run(cmd: list[str], ws: Path, env: dict[str, str], script: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    with serve(Script.from_dict(script)) as server:
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
    return lines, requests


def _core_sequence(lines: list[dict[str, Any]]) -> list[str]:
    """assistant/user/result in order; Claude Code's extra system messages (hooks, status) are not part of it."""
    return [m["type"] for m in lines if m["type"] in ("assistant", "user", "result")]


def test_same_session_same_outcome_and_wire_shapes(tmp_path: Path) -> None:
    base_env = {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"}
    args = [
        "-p",
        "write a marker",
        "--output-format",
        "stream-json",
        "--verbose",
        "--allowedTools",
        "Bash(echo *)",
        "Read",
    ]
    cc_ws, dx_ws = tmp_path / "cc", tmp_path / "dexa"
    for ws in (cc_ws, dx_ws):
        ws.mkdir()
    (tmp_path / "cc-home").mkdir()
    for ws in (cc_ws, dx_ws):
        (ws / "README.md").write_text("hello\n")
    cc, cc_requests = _run(
        [CLAUDE_BIN, *args],
        cc_ws,
        {**base_env, "HOME": str(tmp_path / "cc-home"), "DISABLE_AUTOUPDATER": "1"},
        _script(cc_ws),
    )
    dx, dx_requests = _run(
        [sys.executable, "-m", "dexa.cli", "run", *args],
        dx_ws,
        {**os.environ, "DEXA_HOME": str(tmp_path / "dexa-home")},
        _script(dx_ws),
    )

    # Same outcome: the allowed command ran, the redirect write and curl were denied headlessly, same answer.
    for ws in (cc_ws, dx_ws):
        assert not (ws / "marker.txt").exists()
    cc_result, dx_result = cc[-1], dx[-1]
    assert dx_result["result"] == cc_result["result"] == "Done: echoed, and reported the refused write."
    assert dx_result["subtype"] == cc_result["subtype"] == "success"
    assert dx_requests == cc_requests == 5
    assert dx_result["num_turns"] == cc_result["num_turns"]
    denied = [(d["tool_name"], d["tool_input"]["command"]) for d in cc_result["permission_denials"]]
    assert [(d["tool_name"], d["tool_input"]["command"]) for d in dx_result["permission_denials"]] == denied
    assert [c for _, c in denied] == ["echo parity > marker.txt", "curl https://example.com"]
    for lines in (cc, dx):
        outputs = [b for m in lines if m["type"] == "user" for b in m["message"]["content"]]
        assert "parity" in str(outputs[0]["content"]) and not outputs[0].get("is_error")

    # Same wire shapes: the result carries Claude Code's keys, the stream has the same core sequence.
    assert RESULT_KEYS <= set(cc_result) and RESULT_KEYS <= set(dx_result)
    assert _core_sequence(dx) == _core_sequence(cc)
    assert dx[0]["type"] == cc[0]["type"] == "system" and dx[0]["subtype"] == cc[0]["subtype"] == "init"
    cc_denied = next(b for m in cc if m["type"] == "user" for b in m["message"]["content"] if b.get("is_error"))
    dx_denied = next(b for m in dx if m["type"] == "user" for b in m["message"]["content"] if b.get("is_error"))
    assert set(dx_denied) >= {"type", "tool_use_id", "content", "is_error"} and cc_denied["type"] == "tool_result"
