"""`dexa sessions` prints whole, copyable session ids at any terminal width; `plugin` is a hidden alias."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def _dexa(args: list[str], env: dict[str, str], cwd: Path) -> str:
    out = subprocess.run([sys.executable, "-m", "dexa.cli", *args], env=env, cwd=cwd, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_session_ids_are_never_cut_on_a_narrow_terminal(tmp_path: Path) -> None:
    work = tmp_path / "ws"
    work.mkdir()
    script = tmp_path / "s.json"
    script.write_text(json.dumps({"turns": [{"text": "hi"}]}))
    env = {**os.environ, "DEXA_HOME": str(tmp_path / "home"), "COLUMNS": "60"}
    title = "a long title " * 5
    run = _dexa(["run", "--model", f"scripted:{script}", "--output-format", "json", "-p", title], env, work)
    sid = json.loads(run)["session_id"]
    assert sid in _dexa(["sessions"], env, work)
    commands = [line.split()[1] for line in _dexa(["--help"], env, work).splitlines() if line.startswith("│ ")]
    assert "plugins" in commands and "plugin" not in commands


def test_each_listed_session_carries_its_own_checkpoint_bytes(tmp_path: Path) -> None:
    script = tmp_path / "s.json"
    script.write_text(json.dumps({"turns": [{"text": "hi"}]}))
    env = {**os.environ, "DEXA_HOME": str(tmp_path / "home")}
    sizes: dict[str, int] = {}
    for name, size in (("small", 1_000), ("large", 50_000)):
        work = tmp_path / name
        work.mkdir()
        (work / "data.bin").write_bytes(os.urandom(size))  # random: stored as is, so the two totals stay apart
        run = _dexa(["run", "--model", f"scripted:{script}", "--output-format", "json", "-p", "hi"], env, work)
        sizes[json.loads(run)["session_id"]] = size
    rows = {r["id"]: r for r in json.loads(_dexa(["sessions", "--json"], env, tmp_path))}
    for sid, size in sizes.items():
        assert size <= rows[sid]["checkpoint_bytes"] < size + 20_000, rows[sid]
