"""`dexa permissions check` prints the decision, the rule and the file that decided it."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from dexa.cli.permissions_cmd import app

runner = CliRunner()


def _check(tmp_path: Path, *args: str) -> dict:
    result = runner.invoke(
        app, ["check", "--cwd", str(tmp_path), "--home", str(tmp_path / "home"), "--managed-settings", "", *args]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_check_reports_the_project_rule_and_file(tmp_path: Path) -> None:
    (tmp_path / ".claude").mkdir()
    settings = tmp_path / ".claude" / "settings.json"
    settings.write_text(json.dumps({"permissions": {"deny": ["Bash(git push *)"]}}))
    out = _check(tmp_path, "--tool", "Bash", "--input", '{"command": "git status && git push"}')
    assert out == {
        "decision": "deny",
        "rule": "Bash(git push *)",
        "source": str(settings),
        "reason": out["reason"],
    }
    assert "git push" in out["reason"]


def test_check_accepts_the_run_permission_flags(tmp_path: Path) -> None:
    out = _check(tmp_path, "--tool", "Bash", "--input", '{"command": "npm test"}', "--allowedTools", "Bash(npm test)")
    assert (out["decision"], out["rule"], out["source"]) == ("allow", "Bash(npm test)", "cli")
    out = _check(
        tmp_path,
        "--tool",
        "Bash",
        "--input",
        '{"command": "npm test"}',
        "--allowedTools",
        "Bash(npm test)",
        "--disallowedTools",
        "Bash(npm *)",
    )
    assert out["decision"] == "deny"
    outside = tmp_path.parent / f"{tmp_path.name}-extra"
    outside.mkdir()
    out = _check(
        tmp_path, "--tool", "Read", "--input", json.dumps({"file_path": str(outside / "a")}), "--add-dir", str(outside)
    )
    assert (out["decision"], out["source"]) == ("allow", "builtin:read-only")


def test_check_with_mode_and_settings_file(tmp_path: Path) -> None:
    extra = tmp_path / "ci-settings.json"
    extra.write_text(json.dumps({"permissions": {"allow": ["Bash(make *)"]}}))
    out = _check(tmp_path, "--tool", "Bash", "--input", '{"command": "make all"}', "--settings", str(extra))
    assert (out["decision"], out["source"]) == ("allow", str(extra))
    out = _check(tmp_path, "--tool", "Bash", "--input", '{"command": "curl x"}', "--mode", "dontAsk")
    assert (out["decision"], out["source"]) == ("deny", "mode:dontAsk")


def test_check_rejects_bad_input_json_with_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", "--tool", "Bash", "--input", "{nope", "--cwd", str(tmp_path)])
    assert result.exit_code == 2
    assert "--input" in result.output


def test_check_refuses_bypass_when_policy_disables_it(tmp_path: Path) -> None:
    managed = tmp_path / "managed.json"
    managed.write_text(json.dumps({"permissions": {"disableBypassPermissionsMode": "disable"}}))
    result = runner.invoke(
        app,
        [
            "check",
            "--tool",
            "Bash",
            "--input",
            '{"command": "ls"}',
            "--cwd",
            str(tmp_path),
            "--mode",
            "bypassPermissions",
            "--managed-settings",
            str(managed),
        ],
    )
    assert result.exit_code == 2
    assert "disableBypassPermissionsMode" in result.output
