"""`dexa plugins` drives the store: marketplace add/list, install (--yes), list, disable, uninstall."""

from __future__ import annotations

import json
from pathlib import Path

from plugin_layouts import marketplace
from typer.testing import CliRunner

from dexa.cli.plugins_cmd import app


def test_plugins_cli_round_trip(tmp_path: Path) -> None:
    market = marketplace(tmp_path / "src")
    home, project = tmp_path / "home", tmp_path / "project"
    project.mkdir()
    common = ["--home", str(home), "--cwd", str(project)]
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(app, [*args, *common])
        assert result.exit_code == 0, result.output
        return result.output

    assert "Added marketplace acme-tools" in run("marketplace", "add", str(market))
    assert "acme-tools" in json.loads(run("marketplace", "list", "--json"))
    assert "Installed commit-commands@acme-tools 1.0.0" in run("install", "commit-commands@acme-tools", "--yes")
    rows = json.loads(run("list", "--json"))
    assert [(r["id"], r["enabled"]) for r in rows] == [("commit-commands@acme-tools", True)]
    run("disable", "commit-commands")
    assert json.loads(run("list", "--json"))[0]["enabled"] is False
    run("uninstall", "commit-commands")
    assert json.loads(run("list", "--json")) == []


def test_install_without_confirmation_is_refused_when_not_interactive(tmp_path: Path) -> None:
    market = marketplace(tmp_path / "src")
    home = tmp_path / "home"
    runner = CliRunner()
    assert runner.invoke(app, ["marketplace", "add", str(market), "--home", str(home)]).exit_code == 0
    result = runner.invoke(app, ["install", "security-guidance", "--home", str(home)])
    assert result.exit_code == 1 and "declined" in result.output
    assert "hook PreToolUse" in result.output
