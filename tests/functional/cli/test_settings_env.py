"""Settings `env` reaches Bash commands as in Claude Code; credential-like variables never enter the workspace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_settings_env_reaches_bash_but_credentials_stay_out(tmp_path: Path) -> None:
    home, work = tmp_path / "home", tmp_path / "ws"
    work.mkdir()
    (home / ".claude").mkdir(parents=True)
    env_setting = {"FEATURE_FLAG": "blue", "ANTHROPIC_API_KEY": "sk-ant-leak", "NPM_TOKEN": "npm-leak"}
    (home / ".claude" / "settings.json").write_text(json.dumps({"env": env_setting}))
    command = 'echo "flag=$FEATURE_FLAG key=${ANTHROPIC_API_KEY:-none} npm=${NPM_TOKEN:-none}" > out.txt'
    script = tmp_path / "script.json"
    turns = [{"tool_uses": [{"name": "Bash", "input": {"command": command}}]}, {"text": "done"}]
    script.write_text(json.dumps({"turns": turns}))
    env = {**os.environ, "HOME": str(home), "DEXA_HOME": str(home / ".dexa")}
    argv = [sys.executable, "-m", "dexa.cli", "run", "--model", f"scripted:{script}", "--allowedTools", "Bash"]
    proc = subprocess.run(
        [*argv, "--output-format", "stream-json", "--verbose", "-p", "go"],
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (work / "out.txt").read_text() == "flag=blue key=none npm=none\n"
    assert "ANTHROPIC_API_KEY, NPM_TOKEN" in proc.stdout + proc.stderr  # the user is told what was held back
