"""`dexa doctor` run as a user runs it, in a project and a home with real problems (and without)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

DEXA = str(Path(sys.executable).parent / "dexa")


def _doctor(cwd: Path, home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "HOME": str(home), "DEXA_HOME": str(home / ".dexa"), "COLUMNS": "200", **env}
    full.pop("ANTHROPIC_API_KEY", None)
    full.update(env)
    return subprocess.run([DEXA, "doctor", *args], cwd=cwd, env=full, capture_output=True, text=True, timeout=120)


def _by_name(out: str) -> dict[str, list[dict[str, Any]]]:
    checks: dict[str, list[dict[str, Any]]] = {}
    for c in json.loads(out):
        checks.setdefault(c["name"], []).append(c)
    return checks


def test_doctor_names_each_settings_problem_and_a_dead_mcp_server_and_fails(tmp_path: Path) -> None:
    home, proj = tmp_path / "home", tmp_path / "proj"
    (home / ".claude").mkdir(parents=True)
    (proj / ".claude" / "skills" / "broken").mkdir(parents=True)
    (proj / ".claude" / "settings.local.json").write_text("{not json")
    (proj / ".claude" / "skills" / "broken" / "SKILL.md").write_text(
        "---\nname: broken\ndescription: A skill\nhooks: nope\n---\nbody\n"
    )
    (home / ".claude" / "settings.json").write_text(json.dumps({"hooks": {"PreToolUse": "run me"}}))
    (home / ".claude.json").write_text(json.dumps({"mcpServers": {"ghost": {"command": "/nonexistent/server"}}}))

    proc = _doctor(proj, home, "--json")
    assert proc.returncode == 1, proc.stderr
    checks = _by_name(proc.stdout)
    problems = {c["message"].split(":")[0]: c for c in checks["settings"]}
    assert set(problems) == {
        str(proj / ".claude" / "settings.local.json"),
        str(proj / ".claude" / "skills" / "broken" / "SKILL.md"),
        str(home / ".claude" / "settings.json"),
    }
    assert all(c["status"] == "FAIL" and c["fix"].startswith("edit ") for c in checks["settings"])
    assert "invalid JSON" in problems[str(proj / ".claude" / "settings.local.json")]["message"]
    assert "hooks.PreToolUse" in problems[str(home / ".claude" / "settings.json")]["message"]
    ghost = checks["MCP ghost (user)"][0]
    assert ghost["status"] == "FAIL" and "dexa mcp get ghost" in ghost["fix"]
    assert checks["model access"][0]["status"] == "WARN" and "ANTHROPIC_API_KEY" in checks["model access"][0]["fix"]

    text = _doctor(proj, home)
    assert text.returncode == 1 and "FAIL settings:" in text.stdout and "fix: edit" in text.stdout
    assert "4 failures" in text.stdout and text.stderr == ""  # three settings problems and the dead server


def test_doctor_passes_on_a_healthy_machine_and_warns_without_ripgrep(tmp_path: Path) -> None:
    home, proj = tmp_path / "home", tmp_path / "proj"
    home.mkdir()
    proj.mkdir()
    time_server = {"command": sys.executable, "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"]}
    (home / ".claude.json").write_text(json.dumps({"mcpServers": {"time": time_server}}))
    proc = _doctor(proj, home, "--json", ANTHROPIC_API_KEY="sk-test")
    assert proc.returncode == 0, proc.stdout
    checks = _by_name(proc.stdout)
    assert {c["status"] for cs in checks.values() for c in cs} == {"OK"}
    assert checks["bubblewrap"][0]["message"].startswith("bwrap starts")
    assert checks["MCP time (user)"][0]["message"] == "starts and lists its tools"
    assert "ripgrep" in checks["ripgrep"][0]["message"] and checks["git"][0]["message"].startswith("git version")

    bin_dir = tmp_path / "bin"  # everything doctor needs on PATH except ripgrep
    bin_dir.mkdir()
    for tool in ("git", "bwrap", "socat", "sh", "true", "env"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    no_rg = _doctor(proj, home, "--json", ANTHROPIC_API_KEY="sk-test", PATH=str(bin_dir))
    assert no_rg.returncode == 0
    rg = _by_name(no_rg.stdout)["ripgrep"][0]
    assert rg["status"] == "WARN" and "apt-get install ripgrep" in rg["fix"]
