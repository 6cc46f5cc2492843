from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from dexa.adapters.sqlite import FileBlobStore
from dexa.checkpoints.snapshot import Snapshotter, host_root, read_confined
from dexa.core.errors import SandboxError
from dexa.testing.fakes import DirWorkspace


def test_read_confined_refuses_links_and_oversized_files(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    (tmp_path / "host.txt").write_text("host secret")
    (root / "ok.txt").write_text("fine")
    (root / "link.txt").symlink_to(tmp_path / "host.txt")
    (root / "dir").symlink_to(tmp_path)
    assert read_confined(str(root), "ok.txt", 100) == b"fine"
    assert read_confined(str(root), "ok.txt", 3) is None
    assert read_confined(str(root), "link.txt", 100) is None
    assert read_confined(str(root), "dir/host.txt", 100) is None  # escapes through a directory link
    assert read_confined(str(root), "missing.txt", 100) is None


def test_recently_modified_files_are_rehashed_once_then_trusted(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "fresh.txt").write_text("just written")
    old = time.time() - 60
    (root / "old.txt").write_text("old")
    os.utime(root / "old.txt", (old, old))
    snap = Snapshotter(FileBlobStore(tmp_path / "blobs"), max_file_bytes=1000, max_workspace_bytes=10_000)

    async def main() -> list[int]:
        counts = []
        state = None
        for _ in range(3):
            cap = await snap.capture(str(root), state)
            counts.append(cap.hashed)
            state = cap.state
            os.utime(root / "fresh.txt", (old, old))  # it is no longer racily clean after the first scan
        return counts

    # The first scan hashes both; the second re-hashes fresh.txt (its stat changed); the third trusts everything.
    assert asyncio.run(main()) == [2, 1, 0]


def test_remote_workspaces_are_refused_with_the_reason(tmp_path: Path) -> None:
    ws = DirWorkspace(tmp_path)
    assert host_root(ws) == os.path.realpath(tmp_path)
    ws.is_remote = True  # type: ignore[attr-defined]
    with pytest.raises(SandboxError, match="stat listing"):
        host_root(ws)


def test_a_same_size_rewrite_within_the_mtime_granularity_is_still_detected(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    target = root / "a.txt"
    target.write_text("aaaa")
    snap = Snapshotter(FileBlobStore(tmp_path / "blobs"), max_file_bytes=1000, max_workspace_bytes=10_000)

    async def main() -> tuple[str, str]:
        first = await snap.capture(str(root), None)
        st = os.stat(target)
        target.write_text("bbbb")  # same size, same inode ...
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))  # ... and the same mtime, as a coarse clock would give
        second = await snap.capture(str(root), first.state)
        return first.state.files["a.txt"], second.state.files["a.txt"]

    before, after = asyncio.run(main())
    assert before != after
