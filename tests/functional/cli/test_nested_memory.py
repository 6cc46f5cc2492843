"""Subtree CLAUDE.md files attach after Write and after a Bash `cat`, as in Claude Code (not only after Read)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path


def test_subtree_memory_arrives_with_a_bash_cat_and_with_a_write(tmp_path: Path) -> None:
    home, work = tmp_path / "home", tmp_path / "ws"
    (work / "pkg").mkdir(parents=True)
    (work / "gen").mkdir()
    (work / "pkg" / "CLAUDE.md").write_text("pkg rule: tabs only")
    (work / "pkg" / "a.txt").write_text("alpha\n")
    (work / "gen" / "CLAUDE.md").write_text("gen rule: never hand-edit")
    script = tmp_path / "script.json"
    turns = [
        {"tool_uses": [{"name": "Bash", "input": {"command": "cat pkg/a.txt"}}]},
        {"tool_uses": [{"name": "Write", "input": {"file_path": str(work / "gen" / "out.txt"), "content": "x"}}]},
        {"text": "done"},
    ]
    script.write_text(json.dumps({"turns": turns}))
    env = {**os.environ, "HOME": str(home), "DEXA_HOME": str(home / ".dexa")}
    argv = [sys.executable, "-m", "dexa.cli", "run", "--model", f"scripted:{script}", "--allowedTools", "Bash,Write"]
    proc = subprocess.run(
        [*argv, "--output-format", "json", "-p", "go"], env=env, cwd=work, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    sid = json.loads(proc.stdout)["session_id"]
    con = sqlite3.connect(home / ".dexa" / "dexa.db")
    rows = [r[0] for r in con.execute("SELECT data FROM messages WHERE session_id=? ORDER BY pos", (sid,))]
    con.close()
    results = [row for row in rows if "tool_result" in row]
    assert len(results) == 2
    assert "alpha" in results[0] and "pkg rule: tabs only" in results[0] and "gen rule" not in results[0]
    assert "gen rule: never hand-edit" in results[1] and "pkg rule" not in results[1]
