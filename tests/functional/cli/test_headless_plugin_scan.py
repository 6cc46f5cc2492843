"""A headless `dexa run -p` (a Bash call, then an answer, through the real anthropic SDK) never scans the installed
distributions for pydantic plugins: ~11-20 ms of its cold CPU (dexa.settings, issue 18). The process is the CLI's
own, entered through `-m dexa.cli`; a spy on importlib.metadata.entry_points (which pydantic's loader calls with
group="pydantic") appends each lookup's group to a file as it happens, since the CLI may leave by os._exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dexa.testing.messages_api import serve
from dexa.testing.script import Script

SPY = """
import importlib.metadata as metadata, runpy, sys
real, log = metadata.entry_points, sys.argv[1]
def spy(**kw):
    with open(log, "a") as f:
        f.write(f"{kw.get('group')}\\n")
    return real(**kw)
metadata.entry_points = spy
sys.argv = ["dexa", *sys.argv[2:]]
runpy.run_module("dexa.cli", run_name="__main__", alter_sys=True)
"""


def test_a_headless_run_scans_no_pydantic_plugins(tmp_path: Path) -> None:
    ws, lookups = tmp_path / "ws", tmp_path / "lookups.txt"
    ws.mkdir()
    script = {"turns": [{"tool_uses": [{"name": "Bash", "input": {"command": "echo 1 >> log.txt"}}]}, {"text": "ok"}]}
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    env |= {"ANTHROPIC_API_KEY": "k", "DEXA_HOME": str(tmp_path / "home")}
    argv = ["run", "-p", "go", "--output-format", "json", "--allowedTools", "Bash"]
    with serve(Script.from_dict(script)) as server:
        env["ANTHROPIC_BASE_URL"] = server.url
        proc = subprocess.run(
            [sys.executable, "-c", SPY, str(lookups), *argv],
            cwd=ws,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["subtype"] == "success" and result["result"] == "ok", result
    assert (ws / "log.txt").read_text() == "1\n"  # the real path ran: settings, the SDK's models, the sandbox
    groups = lookups.read_text().split() if lookups.exists() else []
    assert "pydantic" not in groups, f"entry-point lookups of the run: {groups}"
