"""A workspace packed on one side and materialized on the other is the same tree: every file's bytes and mode, links,
untracked and modified files, deletions; ignored files stay behind. Real git, real files."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from dexa.core.errors import ConfigError
from dexa.transfer.workspace import FileEntry, WorkspacePack, materialize, pack


def tree(root: Path) -> dict[str, tuple[str, bytes, int]]:
    """Every path under root except .git: (kind, bytes or link target, permission bits)."""
    out: dict[str, tuple[str, bytes, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.fsencode(os.readlink(full)), 0)
            else:
                out[rel] = ("file", Path(full).read_bytes(), stat.S_IMODE(st.st_mode))
    return out


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def make_repo(root: Path) -> Path:
    root.mkdir()
    git(root, "init", "-q", "-b", "feature/x")
    git(root, "config", "user.email", "a@example.com")
    git(root, "config", "user.name", "A")
    (root / "src").mkdir()
    (root / "src" / "app.py").write_text("print('v1')\n")
    (root / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (root / "run.sh").chmod(0o755)
    (root / "gone.txt").write_text("bye\n")
    (root / ".gitignore").write_text("*.log\nbuild/\n")
    (root / "link").symlink_to("src/app.py")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "one")
    return root


def test_a_git_workspace_round_trips_with_its_uncommitted_state(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    (repo / "src" / "app.py").write_text("print('v2, not committed')\n")  # modified
    (repo / "new.bin").write_bytes(bytes(range(256)) * 3)  # untracked, binary
    (repo / "new.bin").chmod(0o640)
    (repo / "run.sh").chmod(0o700)  # mode change only
    (repo / "gone.txt").unlink()  # deleted
    (repo / "debug.log").write_text("ignored\n")  # ignored: stays behind
    (repo / "build").mkdir()
    (repo / "build" / "out.o").write_bytes(b"\x7fELF")
    (repo / "node_modules" / "x").mkdir(parents=True)
    (repo / "node_modules" / "x" / "i.js").write_text("1")
    (repo / "docs").mkdir()
    (repo / "docs" / "link2").symlink_to("../new.bin")  # untracked link

    packed = pack(repo)
    assert packed.kind == "git" and packed.branch == "feature/x"
    assert packed.head == git(repo, "rev-parse", "HEAD").strip()
    assert {f.path for f in packed.files} == {"src/app.py", "new.bin", "docs/link2"}
    assert packed.deleted == ("gone.txt",)

    # Through the wire format, as the API carries it.
    wire = WorkspacePack.from_dict(packed.to_dict())
    out = materialize(wire, tmp_path / "copy")
    expected = {k: v for k, v in tree(repo).items() if not k.endswith(".log") and not k.startswith(("build", "node_"))}
    assert tree(out) == expected
    assert git(out, "rev-parse", "HEAD").strip() == packed.head
    assert git(out, "branch", "--show-current").strip() == "feature/x"
    assert git(out, "remote").strip() == ""
    status = git(out, "status", "--porcelain")
    assert " M src/app.py" in status and " D gone.txt" in status and "?? new.bin" in status


def test_a_plain_directory_travels_as_a_tree_snapshot(tmp_path: Path) -> None:
    ws = tmp_path / "plain"
    (ws / "a" / "b").mkdir(parents=True)
    (ws / "a" / "b" / "c.txt").write_text("deep\n")
    (ws / "tool").write_bytes(b"\x00\x01")
    (ws / "tool").chmod(0o751)
    packed = pack(ws)
    assert packed.kind == "tree" and packed.bundle == b""
    out = materialize(WorkspacePack.from_dict(packed.to_dict()), tmp_path / "copy")
    assert tree(out) == tree(ws)


def test_a_repository_without_commits_travels_as_a_tree(tmp_path: Path) -> None:
    ws = tmp_path / "fresh"
    ws.mkdir()
    git(ws, "init", "-q")
    (ws / "f.txt").write_text("x")
    packed = pack(ws)
    assert packed.kind == "tree" and [f.path for f in packed.files] == ["f.txt"]


@pytest.mark.parametrize("bad", ["../escape", "/etc/passwd", ".git/hooks/post-checkout", "a/../../b", "x/.GIT/config"])
def test_entries_that_climb_out_or_touch_git_are_refused(bad: str) -> None:
    with pytest.raises(ConfigError, match="not a plain relative path"):
        WorkspacePack.from_dict({"kind": "tree", "files": [{"path": bad, "mode": 420, "data": ""}]})


def test_an_overlay_never_writes_through_a_planted_link(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    hostile = WorkspacePack(
        kind="tree",
        files=(
            FileEntry(path="d", mode=0, link=str(outside)),
            FileEntry(path="d/owned.txt", mode=0o644, data=b"pwned"),
        ),
    )
    with pytest.raises(Exception, match="symlink"):
        materialize(hostile, tmp_path / "copy")
    assert list(outside.iterdir()) == []


def test_materializing_into_a_non_empty_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="already exists"):
        materialize(WorkspacePack(kind="tree"), tmp_path / "busy")
    assert (tmp_path / "busy" / "keep.txt").read_text() == "mine"
