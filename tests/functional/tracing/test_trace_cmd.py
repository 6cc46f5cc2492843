"""`dexa trace SESSION` on a finished headless session: the span tree with timings, tokens and cost, read back from
the session's store by a later process, with tracing never turned on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from dexa.testing.messages_api import serve
from dexa.testing.script import Script

SCRIPT = {
    "turns": [
        {"error": {"status": 529, "times": 1, "retry_after": 0}},
        {"text": "Appending.", "tool_uses": [{"name": "Bash", "input": {"command": "echo 1 >> log.txt; exit 3"}}]},
        {"text": "done"},
    ]
}


def _dexa(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dexa.cli", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_dexa_trace_prints_a_past_sessions_span_tree(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    settings = tmp_path / "settings.json"
    hook = {"matcher": "Bash", "hooks": [{"type": "command", "command": "true"}]}
    settings.write_text(json.dumps({"hooks": {"PreToolUse": [hook]}}))
    env = {**os.environ, "ANTHROPIC_API_KEY": "k", "DEXA_HOME": str(tmp_path / "home")}
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    with serve(Script.from_dict(SCRIPT)) as server:
        env["ANTHROPIC_BASE_URL"] = server.url
        run = _dexa(
            ["run", "-p", "append", "--output-format", "json", "--allowedTools", "Bash", "--settings", str(settings)],
            env,
            ws,
        )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    sid = result["session_id"]

    shown = _dexa(["trace", sid[:8], "--json"], env, ws)  # a unique prefix is enough
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    assert doc["session_id"] == sid
    (turn,) = doc["spans"]
    assert turn["name"] == "invoke_agent dexa" and turn["attributes"]["dexa.turn.subtype"] == "success"
    assert turn["attributes"]["dexa.session.cost_usd"] == result["total_cost_usd"]
    kids: list[dict[str, Any]] = turn["children"]
    model = result["modelUsage"] and next(iter(result["modelUsage"]))
    assert [k["name"] for k in kids] == [f"chat {model}", "dexa.permission Bash", "execute_tool Bash", f"chat {model}"]
    first_chat, permission, tool, last_chat = kids
    assert first_chat["attributes"]["dexa.model.retries"] == 1 and last_chat["attributes"]["dexa.model.retries"] == 0
    assert first_chat["attributes"]["gen_ai.usage.output_tokens"] > 0
    costs = first_chat["attributes"]["dexa.cost_usd"] + last_chat["attributes"]["dexa.cost_usd"]
    assert abs(costs - result["total_cost_usd"]) < 1e-5
    assert permission["attributes"]["dexa.permission.decision"] == "allow"
    assert permission["attributes"]["dexa.permission.rule"] == "Bash"
    assert [c["name"] for c in permission["children"]] == ["dexa.hook PreToolUse"]
    assert tool["attributes"]["dexa.tool.exit_code"] == 3 and tool["attributes"]["dexa.tool.status"] == "failed"
    assert tool["attributes"]["dexa.sandbox.duration_ms"] >= 0
    # Children start in order, inside the turn.
    starts = [k["start"] for k in kids]
    assert starts == sorted(starts) and turn["start"] <= starts[0] and kids[-1]["end"] <= turn["end"]

    text = _dexa(["trace", sid], env, ws)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0] == f"session {sid}"
    assert lines[1].startswith("turn 1 · +0.000s · ") and "success" in lines[1] and "'append'" in lines[1]
    assert lines[2].startswith(f"├─ chat {model} · +") and "1 retry" in lines[2] and "$" in lines[2]
    assert lines[3].startswith("├─ dexa.permission Bash · ") and "allow (" in lines[3] and "rule Bash" in lines[3]
    assert lines[4].startswith("│  └─ dexa.hook PreToolUse · ") and "exit 0" in lines[4]
    assert lines[5].startswith("├─ execute_tool Bash · ") and "failed · exit 3 · sandbox " in lines[5]
    assert lines[6].startswith(f"└─ chat {model} · ") and "retr" not in lines[6]

    missing = _dexa(["trace", "no-such-session"], env, ws)
    assert missing.returncode == 1
    expected = "dexa trace: no session in this store match 'no-such-session' (dexa sessions lists them)"
    assert missing.stderr.strip() == expected
