"""What snapshots contain and how they are stored: gitignore, caps, incrementality, dedup, chains, persistence."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from ckpt_rig import Rig, make_rig, tree

from dexa.core.errors import StorageError


def _age(root: Path, seconds: float = 60.0) -> None:
    """Make every file look old, as in a real checkout (recently written files are re-hashed on purpose)."""
    past = time.time() - seconds
    for p in root.rglob("*"):
        if p.is_file():
            os.utime(p, (past, past))


def _ckpt(rig: Rig, reason: str = "prompt") -> str:
    cid = rig.run(rig.service.checkpoint("s1", reason=reason, message_id=None))
    assert cid is not None
    return cid


def _blob_files(rig: Rig) -> int:
    return sum(1 for p in (rig.tmp / "blobs").rglob("*") if p.is_file())


def test_gitignore_rules_are_honoured_and_ignored_files_are_left_alone(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, sandbox=False)
    r = rig.root
    (r / ".gitignore").write_text("*.log\n!keep.log\nbuild/\n")
    (r / "sub").mkdir()
    (r / "sub" / ".gitignore").write_text("secret.txt\n")
    for rel in ("app.py", "debug.log", "keep.log", "build/out.bin", "sub/secret.txt", "sub/ok.txt", ".git/HEAD"):
        (r / rel).parent.mkdir(parents=True, exist_ok=True)
        (r / rel).write_text(f"v1 {rel}\n")
    first = _ckpt(rig)
    state = rig.run(rig.service.repo.state(rig.run(rig.service.repo.get("s1", first))))
    assert sorted(state.files) == [".gitignore", "app.py", "keep.log", "sub/.gitignore", "sub/ok.txt"]

    for rel in ("app.py", "debug.log", "keep.log", "build/out.bin", "sub/secret.txt", ".git/HEAD"):
        (r / rel).write_text(f"v2 {rel}\n")
    report = rig.run(rig.service.rewind("s1", checkpoint_id=first, mode="code", on_conflict="overwrite"))
    assert sorted(report["restored"]) == ["app.py", "keep.log"]
    for rel in ("debug.log", "build/out.bin", "sub/secret.txt", ".git/HEAD"):
        assert (r / rel).read_text() == f"v2 {rel}\n"  # ignored: untouched, not deleted


def test_size_caps_list_what_they_skip_in_the_checkpoint_and_the_event(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, sandbox=False, max_file_bytes=1000, max_workspace_bytes=2500)
    r = rig.root
    (r / "big.bin").write_bytes(b"x" * 1500)
    for name in ("a", "b", "c"):
        (r / f"{name}.txt").write_bytes(name.encode() * 900)
    (r / "link").symlink_to("a.txt")
    first = _ckpt(rig)

    described = rig.run(rig.service.describe("s1", first))
    assert described["skipped"] == [
        {"path": "big.bin", "reason": "file_cap", "size": 1500},
        {"path": "c.txt", "reason": "workspace_cap", "size": 900},
        {"path": "link", "reason": "symlink", "size": 0},
    ]
    assert described["files"] == 2 and described["skipped_count"] == 3
    event = rig.events("checkpoint.created")[-1]
    assert [s["path"] for s in event["skipped"]] == ["big.bin", "c.txt", "link"]

    (r / "big.bin").write_bytes(b"y" * 1500)
    (r / "a.txt").write_bytes(b"changed")
    report = rig.run(rig.service.rewind("s1", checkpoint_id=first, mode="code", on_conflict="overwrite"))
    assert report["restored"] == ["a.txt"]
    assert (r / "big.bin").read_bytes() == b"y" * 1500  # never captured, so never touched
    assert {s["path"] for s in report["skipped"]} >= {"big.bin", "c.txt", "link"}


def test_incremental_snapshot_hashes_only_changed_files(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, sandbox=False)
    for i in range(300):
        (rig.root / f"d{i % 7}").mkdir(exist_ok=True)
        (rig.root / f"d{i % 7}" / f"f{i}.txt").write_text(f"file {i}\n" * 20)
    _age(rig.root)
    start = rig.service.snapshotter.hash_calls
    first = rig.run(rig.service.repo.get("s1", _ckpt(rig)))
    assert rig.service.snapshotter.hash_calls - start == 300 == first.hashed

    for i in (3, 150, 299):
        (rig.root / f"d{i % 7}" / f"f{i}.txt").write_text("edited\n")
    (rig.root / "d0" / "new.txt").write_text("new\n")
    start = rig.service.snapshotter.hash_calls
    second = rig.run(rig.service.repo.get("s1", _ckpt(rig)))
    assert rig.service.snapshotter.hash_calls - start == 4 == second.hashed
    assert second.changed == 4 and not second.is_full and second.base == first.id
    assert second.bytes_added < 3000  # the changed bytes plus a small delta manifest, not the tree

    # Nothing changed and the position is the same: a non-prompt checkpoint is not taken again.
    assert rig.run(rig.service.checkpoint("s1", reason="tool", message_id=None)) == second.id


def test_identical_content_is_stored_once_across_sessions(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, sandbox=False)
    other_root = tmp_path / "ws2"
    other_root.mkdir()
    for root in (rig.root, other_root):
        for i in range(20):
            (root / f"same{i}.txt").write_text(f"shared content {i}\n")
    _ckpt(rig)
    blobs_after_first = _blob_files(rig)

    from dexa.checkpoints import CheckpointService
    from dexa.testing.fakes import DirWorkspace

    other = DirWorkspace(other_root)

    async def other_ws(session_id: str) -> DirWorkspace:
        return other

    service2 = CheckpointService(rig.store, rig.blobs, other_ws)
    cid = rig.run(service2.checkpoint("s2", reason="prompt", message_id=None))
    ckpt = rig.run(service2.repo.get("s2", cid))
    assert ckpt.hashed == 20
    assert _blob_files(rig) == blobs_after_first + 1  # only the second session's manifest is new
    assert ckpt.bytes_added < 4000


def test_full_snapshots_bound_the_chain_a_restore_replays(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, sandbox=False, full_every=3)
    states = {}
    for i in range(8):
        (rig.root / "counter.txt").write_text(f"{i}\n")
        (rig.root / f"added{i}.txt").write_text("x\n")
        cid = _ckpt(rig)
        states[cid] = tree(rig.root)
    listed = list(reversed(rig.run(rig.service.list_checkpoints("s1"))))
    assert [c["is_full"] for c in listed] == [True, False, False, True, False, False, True, False]
    chains = [rig.run(rig.service.describe("s1", c["id"]))["chain_length"] for c in listed]
    assert max(chains) == 3 and chains == [1, 2, 3, 1, 2, 3, 1, 2]
    for cid in ("ckpt_0003", "ckpt_0006", "ckpt_0002"):
        report = rig.run(rig.service.rewind("s1", checkpoint_id=cid, mode="code", on_conflict="overwrite"))
        assert report["status"] == "ok" and tree(rig.root) == states[cid]


def test_checkpoints_persist_for_a_new_process_over_the_same_store(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, sandbox=False)
    for i in range(50):
        (rig.root / f"f{i}.txt").write_text(f"{i}\n")
    _age(rig.root)
    first = _ckpt(rig)
    (rig.root / "f1.txt").write_text("changed\n")
    _ckpt(rig)
    listed = rig.run(rig.service.list_checkpoints("s1"))

    fresh = rig.new_service()  # nothing cached: everything comes from the store and the blobs
    assert rig.run(fresh.list_checkpoints("s1")) == listed
    (rig.root / "f2.txt").write_text("changed too\n")
    third = rig.run(fresh.repo.get("s1", _ckpt(rig)))
    assert third.seq == 3 and not third.is_full and third.hashed <= 2  # the stat index came back with the manifests
    report = rig.run(fresh.rewind("s1", checkpoint_id=first, mode="code"))
    assert report["status"] == "ok" and (rig.root / "f1.txt").read_text() == "1\n"


def test_missing_or_corrupt_blobs_give_a_partial_report_not_a_silent_half_restore(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, sandbox=False)
    for name in ("gone", "bad", "fine"):
        (rig.root / f"{name}.txt").write_text(f"original {name}\n")
    first = _ckpt(rig)
    state = rig.run(rig.service.repo.state(rig.run(rig.service.repo.get("s1", first))))
    for name in ("gone", "bad", "fine"):
        (rig.root / f"{name}.txt").write_text(f"new {name}\n")
    _ckpt(rig)
    blob_path = lambda d: rig.tmp / "blobs" / d[:2] / d[2:]  # noqa: E731
    blob_path(state.files["gone.txt"]).unlink()
    blob_path(state.files["bad.txt"]).write_bytes(b"bit rot")

    report = rig.run(rig.service.rewind("s1", checkpoint_id=first, mode="code"))
    assert report["status"] == "partial"
    failed = {f["path"]: f["error"] for f in report["failed"]}
    assert "missing" in failed["gone.txt"] and "corrupt" in failed["bad.txt"]
    assert "2 file(s) could not be restored" in report["error"]
    assert report["restored"] == ["fine.txt"]
    assert (rig.root / "fine.txt").read_text() == "original fine\n"
    assert (rig.root / "gone.txt").read_text() == "new gone\n"  # left intact, never truncated
    assert rig.events("session.rewound")[-1]["status"] == "partial"


def test_a_missing_manifest_is_a_clear_storage_error(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, sandbox=False)
    (rig.root / "a.txt").write_text("a\n")
    first = rig.run(rig.service.repo.get("s1", _ckpt(rig)))
    (rig.tmp / "blobs" / first.manifest_blob[:2] / first.manifest_blob[2:]).unlink()
    with pytest.raises(StorageError, match=f"checkpoint {first.id} of session s1: manifest blob .* is missing"):
        rig.run(rig.new_service().rewind("s1", checkpoint_id=first.id, mode="code"))


def test_two_processes_checkpointing_one_session_never_share_a_number(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, sandbox=False)
    a = rig.service
    (rig.root / "f.txt").write_text("1\n")
    first = rig.run(a.checkpoint("s1", reason="prompt", message_id=None))
    b = rig.new_service()  # a second process: it knows nothing a has cached
    (rig.root / "f.txt").write_text("2\n")
    second = rig.run(b.checkpoint("s1", reason="prompt", message_id=None))
    (rig.root / "f.txt").write_text("3\n")
    third = rig.run(a.checkpoint("s1", reason="prompt", message_id=None))  # a's cache is stale: seq 2 is taken
    assert (first, second, third) == ("ckpt_0001", "ckpt_0002", "ckpt_0003")
    assert rig.run(a.repo.get("s1", third)).base == "ckpt_0002"
    for cid, content in ((second, "2\n"), (first, "1\n"), (third, "3\n")):
        rig.run(b.rewind("s1", checkpoint_id=cid, mode="code", on_conflict="overwrite"))
        assert (rig.root / "f.txt").read_text() == content
