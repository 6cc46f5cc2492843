"""The Stop hook through `dexa run`, as Claude Code runs it: asked again after it blocks (stop_hook_active=true),
and overruled after 8 consecutive continuations."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

HOOK = """import json, sys
payload = json.load(sys.stdin)
log = {log!r}
with open(log, "a") as fh:
    fh.write(json.dumps([payload["stop_hook_active"], payload.get("last_assistant_message")]) + "\\n")
calls = sum(1 for _ in open(log))
if calls <= {blocks}:
    print(json.dumps({{"decision": "block", "reason": "run the tests first"}}))
"""


def _run(tmp_path: Path, blocks: int, replies: int) -> tuple[dict, list[list]]:
    home, work = tmp_path / "home", tmp_path / "ws"
    work.mkdir()
    log = tmp_path / "stop.log"
    hook = tmp_path / "stop_hook.py"
    hook.write_text(HOOK.format(log=str(log), blocks=blocks))
    settings = {"hooks": {"Stop": [{"hooks": [{"type": "command", "command": f"{sys.executable} {hook}"}]}]}}
    (home / ".claude").mkdir(parents=True)
    (home / ".claude" / "settings.json").write_text(json.dumps(settings))
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"turns": [{"text": f"reply {i}"} for i in range(1, replies + 1)]}))
    env = {**os.environ, "HOME": str(home), "DEXA_HOME": str(home / ".dexa")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "dexa.cli",
            "run",
            "--model",
            f"scripted:{script}",
            "--output-format",
            "json",
            "-p",
            "go",
        ],
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout), [json.loads(line) for line in log.read_text().splitlines()]


def test_a_blocking_stop_hook_is_asked_again_with_stop_hook_active(tmp_path: Path) -> None:
    result, calls = _run(tmp_path, blocks=2, replies=3)
    assert calls == [[False, "reply 1"], [True, "reply 2"], [True, "reply 3"]]
    assert result["result"] == "reply 3" and result["num_turns"] >= 1


def test_a_stop_hook_that_always_blocks_is_overruled_after_eight_continuations(tmp_path: Path) -> None:
    result, calls = _run(tmp_path, blocks=100, replies=10)
    # 8 blocks = 8 continuations; the 9th stop is forced without asking the hook again.
    assert len(calls) == 8 and calls[0][0] is False and all(active for active, _ in calls[1:])
    assert result["subtype"] == "success" and result["result"] == "reply 9"


SESSION_HOOK = """import json, sys
payload = json.load(sys.stdin)
with open({log!r}, "a") as fh:
    fh.write(json.dumps([payload["hook_event_name"], payload.get("source") or payload.get("reason")]) + "\\n")
if payload["hook_event_name"] == "SessionStart":
    print("the deploy freeze starts Friday")
"""


def test_session_start_context_reaches_the_model_and_session_end_runs_on_exit(tmp_path: Path) -> None:
    home, work = tmp_path / "home", tmp_path / "ws"
    work.mkdir()
    log = tmp_path / "session.log"
    hook = tmp_path / "session_hook.py"
    hook.write_text(SESSION_HOOK.format(log=str(log)))
    handler = [{"hooks": [{"type": "command", "command": f"{sys.executable} {hook}"}]}]
    (home / ".claude").mkdir(parents=True)
    (home / ".claude" / "settings.json").write_text(
        json.dumps({"hooks": {"SessionStart": handler, "SessionEnd": handler}})
    )
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"turns": [{"text": "one"}, {"text": "two"}]}))
    env = {**os.environ, "HOME": str(home), "DEXA_HOME": str(home / ".dexa")}
    base = [sys.executable, "-m", "dexa.cli", "run", "--model", f"scripted:{script}", "--output-format", "json"]
    first = subprocess.run([*base, "-p", "go"], env=env, cwd=work, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr[-2000:]
    sid = json.loads(first.stdout)["session_id"]
    again = [*base, "--resume", sid, "-p", "more"]
    second = subprocess.run(again, env=env, cwd=work, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr[-2000:]
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert calls == [
        ["SessionStart", "startup"],
        ["SessionEnd", "other"],
        ["SessionStart", "resume"],
        ["SessionEnd", "other"],
    ]
    con = sqlite3.connect(home / ".dexa" / "dexa.db")
    rows = [json.loads(r[0]) for r in con.execute("SELECT data FROM messages WHERE session_id=?", (sid,))]
    con.close()
    user_texts = [json.dumps(m) for m in rows if m.get("role") == "user"]
    assert len(user_texts) == 2 and all("the deploy freeze starts Friday" in t for t in user_texts)
