"""`dexa memory show --json` lists the loaded files in order, with scope and whether each was imported."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from dexa.cli.memory_cmd import app


def test_memory_show_json_lists_files_in_load_order(tmp_path: Path) -> None:
    home, repo = tmp_path / "home", tmp_path / "repo"
    (home / ".claude").mkdir(parents=True)
    (home / ".claude" / "CLAUDE.md").write_text("user")
    repo.mkdir()
    (repo / "CLAUDE.md").write_text("project @notes.md")
    (repo / "notes.md").write_text("notes")
    (repo / "CLAUDE.local.md").write_text("local")
    result = CliRunner().invoke(
        app, ["show", "--cwd", str(repo), "--home", str(home), "--managed-dir", str(tmp_path / "none"), "--json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    rows = [(Path(f["path"]).name, f["scope"], f["imported"]) for f in doc["files"]]
    assert rows[0] == ("CLAUDE.md", "user", False)
    assert rows[1:] == [
        ("CLAUDE.md", "project", False),
        ("notes.md", "project", True),
        ("CLAUDE.local.md", "local", False),
    ]
    assert doc["files"][2]["imported_from"] == str(repo / "CLAUDE.md")


def test_memory_show_rejects_a_missing_directory(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["show", "--cwd", str(tmp_path / "nope"), "--json"])
    assert result.exit_code == 2
