"""The real Claude Code CLI against the fake (opt-in: set DEXA_CLAUDE_BIN to a `claude` binary).

npm install --prefix /tmp/cc @anthropic-ai/claude-code
DEXA_CLAUDE_BIN=/tmp/cc/node_modules/@anthropic-ai/claude-code-linux-x64/claude pytest -m slow ...
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from dexa.testing.messages_api import serve
from dexa.testing.script import Script

PINNED = Path(__file__).resolve().parents[3] / "tools" / "claude-code" / "node_modules" / ".bin" / "claude"
CLAUDE = os.environ.get("DEXA_CLAUDE_BIN", "") or (str(PINNED) if PINNED.exists() else "")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CLAUDE or not Path(CLAUDE).exists(),
        reason="Claude Code not installed: make test-deps (tools/claude-code) or set DEXA_CLAUDE_BIN",
    ),
]


def test_claude_code_runs_a_tool_loop_with_retry_and_thinking_against_the_fake(tmp_path: Path) -> None:
    script = {
        "turns": [
            {"error": {"status": 529}},
            {
                "thinking": "I will echo.",
                "text": "Let me check.",
                "tool_uses": [{"name": "Bash", "input": {"command": "echo dexa-was-here", "description": "echo"}}],
            },
            {"thinking": "It worked.", "text": "The command printed dexa-was-here."},
        ]
    }
    home = tmp_path / "home"
    home.mkdir()
    with serve(Script.from_dict(script)) as server:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(home),
            "ANTHROPIC_BASE_URL": server.url,
            "ANTHROPIC_API_KEY": "x",
        }
        done = subprocess.run(
            [CLAUDE, "-p", "hi", "--output-format", "stream-json", "--verbose", "--allowedTools", "Bash(echo *)"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        bodies = server.message_requests()
    messages = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    result = messages[-1]
    assert result["type"] == "result" and result["subtype"] == "success", done.stderr[-2000:]
    assert result["result"] == "The command printed dexa-was-here."
    retries = [m for m in messages if m.get("subtype") == "api_retry"]
    assert retries and retries[0]["error_status"] == 529
    tool_results = [m for m in messages if m["type"] == "user"]
    assert "dexa-was-here" in json.dumps(tool_results)
    assistant = [m for m in bodies[-1]["messages"] if m["role"] == "assistant"]
    replayed = [b for m in assistant for b in m["content"] if b.get("type") == "thinking"]
    assert replayed and replayed[0]["thinking"] == "I will echo."
