"""A small tree is walked and hashed on the event loop (no worker-thread hop before every Bash); a tree past the
inline budget is walked in a thread instead, and both give the same state, .gitignore and symlinks included."""

from __future__ import annotations

import asyncio
from pathlib import Path

import anyio.to_thread
import pytest

from dexa.adapters.sqlite import FileBlobStore
from dexa.checkpoints import snapshot
from dexa.checkpoints.snapshot import INLINE_SCAN_ENTRIES, Snapshotter


def _tree(root: Path, files: int) -> None:
    (root / "sub").mkdir(parents=True)
    (root / ".gitignore").write_text("*.log\n")
    (root / "sub" / ".gitignore").write_text("secret.txt\n")
    (root / "sub" / "secret.txt").write_text("ignored")
    (root / "build.log").write_text("ignored")
    (root / "link").symlink_to("/etc/passwd")
    for i in range(files):
        (root / "sub" / f"f{i}.txt").write_text(f"content {i}")


def _capture(root: Path, blobs: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[snapshot.Capture, int]:
    """One capture from nothing, and how many worker-thread hops the walk and the reads made (the blob store's own
    writes are not the snapshotter's)."""
    hops = 0
    real = anyio.to_thread.run_sync

    async def counting(func, *args, **kwargs):
        nonlocal hops
        hops += getattr(func, "__name__", "") in ("scan", "_read_batch")
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    snap = Snapshotter(FileBlobStore(blobs), max_file_bytes=1 << 20, max_workspace_bytes=1 << 30)
    return asyncio.run(snap.capture(str(root), None)), hops


@pytest.mark.parametrize("files", [5, INLINE_SCAN_ENTRIES + 50])
def test_small_trees_are_captured_inline_and_big_ones_in_a_thread_with_the_same_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: int
) -> None:
    root = tmp_path / "ws"
    _tree(root, files)
    cap, hops = _capture(root, tmp_path / "blobs", monkeypatch)
    expected = {".gitignore", "sub/.gitignore", *(f"sub/f{i}.txt" for i in range(files))}
    assert set(cap.state.files) == expected
    assert [(s.path, s.reason) for s in cap.state.skipped] == [("link", "symlink")]
    assert cap.hashed == len(expected)
    if files < INLINE_SCAN_ENTRIES:
        assert hops == 0  # walked, read and hashed on the loop
    else:
        assert hops >= 2  # the walk went over budget: redone in a thread, and the reads are batched there too


def test_an_inline_capture_stores_the_same_content_as_a_threaded_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "ws"
    _tree(root, 5)
    inline, hops = _capture(root, tmp_path / "a", monkeypatch)
    assert hops == 0
    monkeypatch.setattr(snapshot, "INLINE_SCAN_ENTRIES", 0)  # every walk over budget
    monkeypatch.setattr(snapshot, "INLINE_READ_FILES", 0)
    threaded, hops = _capture(root, tmp_path / "b", monkeypatch)
    assert hops >= 2
    assert inline.state.files == threaded.state.files
    assert inline.state.stat == threaded.state.stat
    assert sorted(p.name for p in (tmp_path / "a").rglob("*") if p.is_file()) == sorted(
        p.name for p in (tmp_path / "b").rglob("*") if p.is_file()
    )
