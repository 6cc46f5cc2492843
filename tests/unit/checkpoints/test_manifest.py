from __future__ import annotations

import pytest

from dexa.checkpoints.manifest import (
    Checkpoint,
    Skip,
    TreeState,
    apply,
    checkpoint_id,
    decode_manifest,
    diff,
    encode_manifest,
    seq_of,
)
from dexa.core.errors import CheckpointNotFoundError, StorageError


def _state(files: dict[str, str], skipped: list[Skip] | None = None, scan_ns: int = 1) -> TreeState:
    return TreeState(
        files=files, stat={p: (1, len(d), 7, 0o644) for p, d in files.items()}, skipped=skipped or [], scan_ns=scan_ns
    )


def test_ids_and_numbers_round_trip() -> None:
    assert checkpoint_id(7) == "ckpt_0007" and checkpoint_id(12345) == "ckpt_12345"
    assert seq_of("ckpt_0007") == seq_of("7") == seq_of(7) == 7
    with pytest.raises(CheckpointNotFoundError, match="ckpt_0007 or 7"):
        seq_of("ckpt_x")


def test_a_delta_applied_to_its_base_gives_the_new_state() -> None:
    old = _state({"a": "1", "b": "2", "c": "3"})
    new = _state({"a": "1", "b": "22", "d": "4"}, skipped=[Skip(path="big", reason="file_cap", size=9)], scan_ns=5)
    delta = diff(old, new)
    assert delta.files == {"b": "22", "d": "4", "c": None} and delta.changed == 3
    rebuilt = old.copy()
    apply(rebuilt, delta, skipped=new.skipped, scan_ns=new.scan_ns)
    assert rebuilt.files == new.files and rebuilt.stat == new.stat and rebuilt.skipped == new.skipped
    assert old.files["c"] == "3"  # copy() really copied


def test_manifests_encode_full_or_delta_and_decode_back() -> None:
    old = _state({"a": "1"})
    new = _state({"a": "1", "b": "2"}, skipped=[Skip(path="l", reason="symlink")])
    delta = diff(old, new)
    full = decode_manifest(encode_manifest(session_id="s", seq=1, is_full=True, state=new, delta=delta), digest="d")
    assert full.is_full and full.delta.files == {"a": "1", "b": "2"} and full.skipped == new.skipped
    part = decode_manifest(encode_manifest(session_id="s", seq=2, is_full=False, state=new, delta=delta), digest="d")
    assert not part.is_full and part.delta.files == {"b": "2"} and part.delta.stat == {"b": (1, 1, 7, 0o644)}


@pytest.mark.parametrize(
    "raw", [b"not json", b'{"v": 99}', b'{"v": 1, "files": {}}', b'{"v":1,"is_full":1,"files":{},"stat":{"a":[1]}}']
)
def test_a_corrupt_manifest_names_its_blob(raw: bytes) -> None:
    with pytest.raises(StorageError, match="manifest blob abc is corrupt"):
        decode_manifest(raw, digest="abc")


def test_a_malformed_index_document_is_a_storage_error() -> None:
    with pytest.raises(StorageError, match="s:000001 is malformed"):
        Checkpoint.from_dict({"key": "s:000001", "id": "ckpt_0001"})
