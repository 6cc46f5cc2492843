from __future__ import annotations

import os
from pathlib import Path

from dexa.checkpoints.ignore import IgnoreRules
from dexa.checkpoints.snapshot import scan_tree


def _write(root: Path, rel: str, text: str = "x") -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(text)


def test_nested_gitignores_negation_and_pruned_directories(tmp_path: Path) -> None:
    _write(tmp_path, ".gitignore", "*.log\n!keep.log\nnode_modules/\n/top-only.txt\n")
    _write(tmp_path, "pkg/.gitignore", "generated/\n!debug.log\n*.tmp\n")
    for rel in (
        "a.py",
        "x.log",
        "keep.log",
        "node_modules/m/index.js",
        "top-only.txt",
        "pkg/top-only.txt",
        "pkg/debug.log",
        "pkg/other.log",
        "pkg/generated/g.py",
        "pkg/s.tmp",
        ".git/config",
        "pkg/sub/.git",
        ".dexa/backups/1/a.py",
        ".dexa/settings.json",
    ):
        _write(tmp_path, rel)
    stats, links = scan_tree(str(tmp_path), IgnoreRules())
    assert sorted(stats) == [
        ".dexa/settings.json",
        ".gitignore",
        "a.py",
        "keep.log",
        "pkg/.gitignore",
        "pkg/debug.log",
        "pkg/top-only.txt",
    ]
    assert links == []


def test_changing_a_gitignore_invalidates_cached_decisions(tmp_path: Path) -> None:
    _write(tmp_path, ".gitignore", "*.txt\n")
    _write(tmp_path, "a.txt")
    _write(tmp_path, "b.md")
    rules = IgnoreRules()
    assert sorted(scan_tree(str(tmp_path), rules)[0]) == [".gitignore", "b.md"]
    _write(tmp_path, ".gitignore", "*.md\n")
    st = os.stat(tmp_path / ".gitignore")
    os.utime(tmp_path / ".gitignore", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert sorted(scan_tree(str(tmp_path), rules)[0]) == [".gitignore", "a.txt"]
    (tmp_path / ".gitignore").unlink()
    assert sorted(scan_tree(str(tmp_path), rules)[0]) == ["a.txt", "b.md"]


def test_symlinks_are_reported_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("host file")
    root = tmp_path / "ws"
    root.mkdir()
    (root / "escape").symlink_to(outside / "secret")
    (root / "dirlink").symlink_to(outside)
    stats, links = scan_tree(str(root), IgnoreRules())
    assert stats == {}
    assert sorted(s.path for s in links) == ["dirlink", "escape"]
