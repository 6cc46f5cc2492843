"""Parity of the stream-json session an Agent SDK drives: the same stdin (initialize, then two prompts, then an
interrupt of a third) goes to the pinned Claude Code and to `dexa`, against the same scripted Messages API; the
control answers, the init messages, the per-turn results and their usage shapes must agree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
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

ARGS = ["--output-format", "stream-json", "--verbose", "--input-format", "stream-json", "--include-partial-messages"]
SCRIPT = {"turns": [{"text": "one"}, {"text": "two"}, {"text": "slow " * 30, "delay_ms": 1500}]}
MODEL_USAGE_KEYS = {
    "inputTokens",
    "outputTokens",
    "cacheReadInputTokens",
    "cacheCreationInputTokens",
    "webSearchRequests",
    "costUSD",
    "contextWindow",
    "maxOutputTokens",
}
INIT_KEYS = {
    "cwd",
    "session_id",
    "tools",
    "mcp_servers",
    "model",
    "permissionMode",
    "slash_commands",
    "apiKeySource",
    "claude_code_version",
    "output_style",
}


def _line(obj: dict[str, Any]) -> str:
    return json.dumps(obj) + "\n"


def _user(text: str) -> str:
    return _line(
        {
            "type": "user",
            "message": {"role": "user", "content": text},
            "parent_tool_use_id": None,
            "session_id": "default",
        }
    )


def _session(cmd: list[str], ws: Path, env: dict[str, str]) -> list[dict[str, Any]]:
    """initialize, prompt, wait for its result, prompt, wait, prompt a slow turn and interrupt it on its first
    delta, then close stdin: what ClaudeSDKClient does."""
    with serve(Script.from_dict(SCRIPT)) as server:
        proc = subprocess.Popen(
            cmd,
            cwd=ws,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**env, "ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "x"},
        )
        assert proc.stdin and proc.stdout
        send = proc.stdin
        send.write(
            _line(
                {"type": "control_request", "request_id": "req_1", "request": {"subtype": "initialize", "hooks": None}}
            )
        )
        send.write(_user("first"))
        send.flush()
        out: list[dict[str, Any]] = []
        prompts = iter([_user("second"), _user("third, slowly")])
        interrupted = False
        deadline = time.monotonic() + 120
        for raw in proc.stdout:
            assert time.monotonic() < deadline, "session did not finish"
            msg = json.loads(raw)
            if msg["type"] == "stream_event" and len([m for m in out if m["type"] == "result"]) == 2:
                if not interrupted:
                    interrupted = True
                    send.write(
                        _line({"type": "control_request", "request_id": "req_2", "request": {"subtype": "interrupt"}})
                    )
                    send.flush()
            out.append(msg)
            if msg["type"] == "result":
                nxt = next(prompts, None)
                if nxt is None:
                    send.close()
                else:
                    send.write(nxt)
                    send.flush()
        proc.wait(timeout=30)
    return out


def test_sdk_session_parity(tmp_path: Path) -> None:
    cc_ws, dx_ws = tmp_path / "cc", tmp_path / "dexa"
    for ws in (cc_ws, dx_ws, tmp_path / "cc-home"):
        ws.mkdir()
    base = {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"}
    cc = _session([CLAUDE_BIN, *ARGS], cc_ws, {**base, "HOME": str(tmp_path / "cc-home"), "DISABLE_AUTOUPDATER": "1"})
    dx = _session(
        [sys.executable, "-m", "dexa.cli", *ARGS], dx_ws, {**os.environ, "DEXA_HOME": str(tmp_path / "dexa-home")}
    )

    for lines in (cc, dx):
        # The initialize answer comes first, for the request the SDK sent.
        assert lines[0]["type"] == "control_response" and lines[0]["response"]["request_id"] == "req_1"
        assert {"commands", "output_style", "pid", "claude_code_version"} <= set(lines[0]["response"]["response"])
        interrupt = next(m for m in lines if m["type"] == "control_response" and m["response"]["request_id"] == "req_2")
        assert interrupt["response"]["subtype"] == "success"

    cc_results = [m for m in cc if m["type"] == "result"]
    dx_results = [m for m in dx if m["type"] == "result"]
    assert [(r["subtype"], r["is_error"]) for r in dx_results] == [(r["subtype"], r["is_error"]) for r in cc_results]
    assert [(r["subtype"], r["is_error"]) for r in cc_results] == [
        ("success", False),
        ("success", False),
        ("error_during_execution", True),
    ]
    assert [r.get("result") for r in dx_results[:2]] == [r.get("result") for r in cc_results[:2]] == ["one", "two"]
    assert [r["num_turns"] for r in dx_results[:2]] == [r["num_turns"] for r in cc_results[:2]]
    for cc_r, dx_r in zip(cc_results[:2], dx_results[:2], strict=True):
        assert set(cc_r) >= {"modelUsage", "duration_api_ms", "total_cost_usd", "usage", "permission_denials"}
        assert {k for k in cc_r if k in dx_r} >= {"modelUsage", "duration_api_ms", "total_cost_usd", "usage"}
        for result in (cc_r, dx_r):
            (usage,) = result["modelUsage"].values()
            assert MODEL_USAGE_KEYS <= set(usage)
            assert result["duration_api_ms"] > 0
    # One init per turn, carrying the same keys; each turn's interrupted result follows its synthetic user line.
    cc_inits = [m for m in cc if m.get("subtype") == "init"]
    dx_inits = [m for m in dx if m.get("subtype") == "init"]
    assert len(cc_inits) == len(dx_inits) == 3
    assert INIT_KEYS <= set(cc_inits[0]) and INIT_KEYS <= set(dx_inits[0])
    for lines in (cc, dx):
        last = [m for m in lines if m["type"] in ("user", "result")][-2:]
        assert last[0]["message"]["content"][0]["text"] == "[Request interrupted by user]"
