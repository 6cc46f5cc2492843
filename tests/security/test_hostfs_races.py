"""Host-side file access can't be raced (issue 13 item 7): a process swapping a workspace directory for a symlink to
an outside directory, as fast as it can, while the control plane's file tools, checkpoints and rewind run.

Each test first shows the race is real here (a naive by-path operation during the same race does reach the outside:
the positive control), then runs the real operation many times and compares the outside canary tree byte for byte.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path

from hostfs_rig import make_canary, racing, sandbox_context, tree_state

from dexa.adapters.local_sandbox import LocalSandbox
from dexa.adapters.sqlite import FileBlobStore, SqliteStore
from dexa.checkpoints import CheckpointService
from dexa.checkpoints.manifest import Skip, TreeState
from dexa.checkpoints.restore import apply_on_host, plan_restore
from dexa.checkpoints.snapshot import Snapshotter
from dexa.core.ports import Workspace
from dexa.core.session import Session
from dexa.tools.files import Edit, Read, Write
from dexa.tools.search import Glob, Grep

NAMES = [f"f{i:02}.txt" for i in range(54)]  # the reported attack deleted 54 files


def _setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    root = tmp_path / "ws"
    (root / "d").mkdir(parents=True)
    outside = tmp_path / "outside"
    make_canary(outside, NAMES)
    return root, root / "d", outside


def _control_escapes(d: Path, outside: Path) -> None:
    """The positive control: during the race, naive path-based writes do land outside."""
    with racing(d, outside):
        landed = False
        for i in range(5000):
            try:
                (d / f"naive-{i}.txt").write_text("x")
            except OSError:
                continue
            if (outside / f"naive-{i}.txt").exists():
                landed = True
                break
    assert landed, "the racer never redirected a naive write: this machine cannot show the race"
    for p in list(outside.glob("naive-*")) + list(d.glob("naive-*")):
        p.unlink()


def test_rewind_raced_by_a_directory_swap_deletes_nothing_outside(tmp_path: Path) -> None:
    root, d, outside = _setup(tmp_path)
    _control_escapes(d, outside)
    canary = tree_state(outside)
    store = SqliteStore(tmp_path / "db" / "dexa.db")
    blobs = FileBlobStore(tmp_path / "blobs")
    box = LocalSandbox(str(root), state_dir=str(tmp_path / "state"))

    async def workspace_for(session_id: str) -> Workspace:
        return box

    service = CheckpointService(store, blobs, workspace_for)
    session = Session(id="s1", org_id="o", user_id="u", cwd=str(root), model="scripted", created_at=time.time())
    swaps = 0

    async def main() -> None:
        nonlocal swaps
        await store.create_session(session)
        empty = await service.checkpoint("s1", reason="prompt", message_id=None)
        assert empty is not None
        for _ in range(8):
            d.mkdir(exist_ok=True)  # a rewind that deleted every file also prunes the emptied directory
            for name in NAMES:
                (d / name).write_text(f"workspace {name}\n")
            assert await service.checkpoint("s1", reason="tool", message_id=None) is not None
            with racing(d, outside) as race:
                report = await service.rewind("s1", checkpoint_id=empty, mode="code", on_conflict="overwrite")
            swaps += race["swaps"]
            assert report["status"] in ("ok", "partial"), report
            assert tree_state(outside) == canary, "a raced rewind changed files outside the workspace"

    asyncio.run(main())
    assert swaps > 100, f"the racer barely ran ({swaps} swaps)"
    assert tree_state(outside) == canary


def test_write_and_edit_racing_a_directory_swap_create_and_change_nothing_outside(tmp_path: Path) -> None:
    root, d, outside = _setup(tmp_path)
    (d / "f00.txt").write_text("workspace f00\n")
    _control_escapes(d, outside)
    canary = tree_state(outside)
    ctx = sandbox_context(root, tmp_path / "state")
    outcomes: dict[str, int] = {"ok": 0, "refused": 0}

    async def main() -> None:
        for i in range(300):
            # A fresh parent directory each time: the reported attack was makedirs + open through a swapped parent.
            out = await Write().run({"file_path": str(d / f"sub{i}" / "new.txt"), "content": "pwned"}, ctx)
            outcomes["refused" if out.is_error else "ok"] += 1
            read = await Read().run({"file_path": str(d / "f00.txt")}, ctx)
            assert "CANARY" not in read.content, "Read returned an outside file's content"
            if read.is_error:
                continue
            old, new = ("workspace", "WORKSPACE") if "workspace" in read.content else ("WORKSPACE", "workspace")
            edit = await Edit().run({"file_path": str(d / "f00.txt"), "old_string": old, "new_string": new}, ctx)
            outcomes["refused" if edit.is_error else "ok"] += 1

    with racing(d, outside) as race:
        asyncio.run(main())
    assert race["swaps"] > 100
    assert tree_state(outside) == canary, "a raced Write/Edit created or changed files outside the workspace"
    assert outcomes["ok"] > 0  # the tools still work while the race goes on (refusals are the swapped moments)


def test_glob_grep_and_checkpoints_never_list_or_capture_outside_files_during_the_race(tmp_path: Path) -> None:
    root, d, outside = _setup(tmp_path)
    for name in NAMES[:5]:
        (d / name).write_text(f"workspace {name}\n")
    canary = tree_state(outside)
    ctx = sandbox_context(root, tmp_path / "state")
    blobs = FileBlobStore(tmp_path / "blobs")
    snap = Snapshotter(blobs, max_file_bytes=1 << 20, max_workspace_bytes=1 << 30)
    outside_digests = {hashlib.sha256(p.read_bytes()).hexdigest() for p in outside.rglob("*") if p.is_file()}

    async def main() -> None:
        state = None
        for _ in range(60):
            grep = await Grep().run({"pattern": "CANARY", "path": str(root), "output_mode": "content"}, ctx)
            assert "CANARY" not in grep.content and "only-outside" not in grep.content
            glob = await Glob().run({"pattern": "**/*.txt", "path": str(root)}, ctx)
            assert "only-outside" not in glob.content and "deep.txt" not in glob.content
            cap = await snap.capture(str(root), state)
            state = cap.state
            assert not any("only-outside" in p or "deep.txt" in p for p in (*state.files, *state.stat))
        for digest in outside_digests:
            assert not await blobs.has_blob(digest), "a checkpoint captured an outside file's content"

    with racing(d, outside) as race:
        asyncio.run(main())
    assert race["swaps"] > 100
    assert tree_state(outside) == canary


def test_restore_removes_a_planted_link_and_never_writes_through_it(tmp_path: Path) -> None:
    """The deterministic case: the checkpoint has d/ as a directory, now d is a link out. The link goes, d/ comes
    back as a real directory, and the outside files with the same names are untouched."""
    root, d, outside = _setup(tmp_path)
    d.rmdir()
    d.symlink_to(outside)
    canary = tree_state(outside)
    target = TreeState(files={"d/f00.txt": "digest-a", "d/f01.txt": "digest-b"})
    current = TreeState(skipped=[Skip(path="d", reason="symlink")])
    plan = plan_restore(target, current)
    assert plan.deletes == ["d"]
    restored, deleted, failed = apply_on_host(
        str(root), plan, {"d/f00.txt": b"restored 0", "d/f01.txt": b"restored 1"}, target
    )
    assert failed == [] and sorted(restored) == ["d/f00.txt", "d/f01.txt"] and deleted == ["d"]
    assert d.is_dir() and not d.is_symlink() and (d / "f00.txt").read_bytes() == b"restored 0"
    assert tree_state(outside) == canary


def test_restore_refuses_every_path_below_a_link_swapped_in_after_planning(tmp_path: Path) -> None:
    """Planned while d was a directory; by the time it runs, d is a link out: those paths fail, nothing is followed."""
    root, d, outside = _setup(tmp_path)
    for name in NAMES:
        (d / name).write_text("workspace\n")
    current = TreeState(files={f"d/{n}": "x" for n in NAMES})
    target = TreeState(files={"d/f00.txt": "new"})
    plan = plan_restore(target, current)
    d.rename(root / "d.real")
    d.symlink_to(outside)
    canary = tree_state(outside)
    restored, deleted, failed = apply_on_host(str(root), plan, {"d/f00.txt": b"new"}, target)
    assert restored == [] and deleted == []
    assert len(failed) == len(NAMES) and all("symlink" in f["error"] for f in failed), failed[:2]
    assert tree_state(outside) == canary
