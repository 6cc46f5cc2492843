"""dexa.core.safefs: the symlink policy, bounded reads and fd-relative deletes, one rule per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dexa.core.errors import SandboxError
from dexa.core.safefs import SafeFS


@pytest.fixture
def tree(tmp_path: Path) -> tuple[SafeFS, Path, Path]:
    root = tmp_path / "ws"
    (root / "real").mkdir(parents=True)
    (root / "real" / "a.txt").write_text("inside")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    (root / "in-link").symlink_to("real")
    (root / "abs-link").symlink_to(root / "real" / "a.txt")
    (root / "out-link").symlink_to(outside)
    (root / "loop").symlink_to("loop")
    return SafeFS((str(root),)), root, outside


def test_links_inside_the_roots_are_followed_for_tools(tree: tuple[SafeFS, Path, Path]) -> None:
    fs, root, _ = tree
    assert fs.read(f"{root}/in-link/a.txt", limit=100) == b"inside"
    assert fs.read(f"{root}/abs-link", limit=100) == b"inside"
    fs.write(f"{root}/in-link/b.txt", b"made")
    assert (root / "real" / "b.txt").read_bytes() == b"made"


def test_links_out_of_the_roots_are_refused_and_nothing_is_created(tree: tuple[SafeFS, Path, Path]) -> None:
    fs, root, outside = tree
    for path in (f"{root}/out-link/secret.txt", f"{root}/out-link/new.txt", f"{root}/out-link/d/new.txt"):
        with pytest.raises(SandboxError, match=r"outside the workspace.*through a symlink"):
            fs.write(path, b"pwned")
    with pytest.raises(SandboxError, match="outside the workspace"):
        fs.read(f"{root}/out-link/secret.txt", limit=100)
    assert sorted(os.listdir(outside)) == ["secret.txt"]


def test_no_follow_mode_refuses_every_link_even_inside(tree: tuple[SafeFS, Path, Path]) -> None:
    fs, root, _ = tree
    with pytest.raises(SandboxError, match="in-link is a symlink") as err:
        fs.write(f"{root}/in-link/c.txt", b"x", follow=False)
    assert err.value.code == "symlink"
    with pytest.raises(SandboxError, match="symlink"):
        fs.read(f"{root}/abs-link", limit=100, follow=False)
    assert not (root / "real" / "c.txt").exists()


def test_remove_takes_the_link_never_its_target(tree: tuple[SafeFS, Path, Path]) -> None:
    fs, root, outside = tree
    fs.remove(f"{root}/out-link")
    assert not (root / "out-link").is_symlink() and (outside / "secret.txt").exists()
    fs.remove(f"{root}/real")
    assert not (root / "real").exists()
    with pytest.raises(SandboxError, match="workspace root"):
        fs.remove(str(root))


def test_walk_lists_regular_files_and_inside_file_links_only(tree: tuple[SafeFS, Path, Path]) -> None:
    fs, root, _ = tree
    os.mkfifo(root / "pipe")
    assert sorted(fs.walk(str(root))) == [f"{root}/abs-link", f"{root}/real/a.txt"]
    assert fs.walk(str(root), follow=False) == [f"{root}/real/a.txt"]


def test_reads_are_bounded_and_loops_and_bad_paths_are_clear_errors(tree: tuple[SafeFS, Path, Path]) -> None:
    fs, root, _ = tree
    with pytest.raises(SandboxError, match="too large") as err:
        fs.read(f"{root}/real/a.txt", limit=3)
    assert err.value.code == "file_too_large"
    with pytest.raises(SandboxError, match="more than 40 symlinks"):
        fs.read(f"{root}/loop", limit=10)
    for bad, reason in (("relative/x", "absolute"), (f"{root}/a\x00b", "NUL"), (f"{root}/\ud800", "not valid text")):
        with pytest.raises(SandboxError, match=reason):
            fs.stat(bad)
    with pytest.raises(SandboxError, match="outside the workspace"):
        fs.stat(f"{root}/../outside/secret.txt")
