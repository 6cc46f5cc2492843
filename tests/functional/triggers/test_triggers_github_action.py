"""The GitHub Action: a composite action whose step runs the real `dexa run -p` headless with stream-json."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

ACTION_DIR = Path(__file__).resolve().parents[3] / "integrations" / "github-action"


def test_action_is_composite_and_passes_inputs_only_through_the_environment() -> None:
    action = yaml.safe_load((ACTION_DIR / "action.yml").read_text())
    assert action["runs"]["using"] == "composite" and action["inputs"]["prompt"]["required"] is True
    steps = action["runs"]["steps"]
    run_step = next(s for s in steps if s.get("id") == "dexa")
    assert run_step["run"] == 'bash "$DEXA_ACTION_PATH/run.sh"'
    assert run_step["env"]["DEXA_PROMPT"] == "${{ inputs.prompt }}"
    for step in steps:  # `${{ inputs.x }}` inside a script would let a crafted prompt inject shell
        assert "${{" not in step.get("run", ""), step
    for name in ("result", "is_error", "session_id", "transcript"):
        assert action["outputs"][name]["value"] == f"${{{{ steps.dexa.outputs.{name} }}}}"
    script = (ACTION_DIR / "run.sh").read_text()
    assert "--output-format stream-json" in script and re.search(r"args=\(run -p ", script)


def test_run_script_drives_dexa_headless_and_exposes_the_result(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"turns": [{"text": "All checks pass; nothing to fix."}]}))
    work = tmp_path / "repo"
    work.mkdir()
    outputs, summary = tmp_path / "github_output", tmp_path / "summary.md"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        "DEXA_PROMPT": "Check the build; $(touch INJECTED) `touch INJECTED2`",
        "DEXA_MODEL": f"scripted:{script}",
        "DEXA_PERMISSION_MODE": "acceptEdits",
        "DEXA_MAX_TURNS": "3",
        "GITHUB_OUTPUT": str(outputs),
        "GITHUB_STEP_SUMMARY": str(summary),
        "RUNNER_TEMP": str(tmp_path),
    }
    done = subprocess.run(
        ["bash", str(ACTION_DIR / "run.sh")], cwd=work, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "All checks pass" in done.stdout
    text = outputs.read_text()
    assert "is_error=false" in text and re.search(r"session_id=ses_\w+", text)
    assert re.search(r"result<<(DEXA_\w+)\nAll checks pass; nothing to fix.\n\1\n", text)
    transcript = Path(re.search(r"transcript=(.+)", text).group(1))  # type: ignore[union-attr]
    events = [json.loads(line) for line in transcript.read_text().splitlines()]
    assert events[0]["type"] == "system" and events[-1]["type"] == "result"
    assert "Dexa (done)" in summary.read_text()
    assert not (work / "INJECTED").exists() and not (work / "INJECTED2").exists()


def test_run_script_reports_failure_when_dexa_fails(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        "DEXA_PROMPT": "anything",
        "DEXA_MODEL": f"scripted:{tmp_path / 'missing.json'}",
        "GITHUB_OUTPUT": str(tmp_path / "out"),
        "RUNNER_TEMP": str(tmp_path),
    }
    done = subprocess.run(
        ["bash", str(ACTION_DIR / "run.sh")], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "is_error=true" in (tmp_path / "out").read_text()
