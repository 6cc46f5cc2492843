"""Checkpoint values: the index document, the manifest (tree state) and the delta arithmetic between manifests.

A checkpoint's *tree state* is `files` (path -> sha256 of the content blob), `stat` (path -> [mtime_ns, size,
inode, mode], the cache that lets the next snapshot skip unchanged files) and `skipped` (what the caps or the
symlink rule left out). Full checkpoints store the whole state; incremental ones store only the paths that changed
since their base, with `None` meaning "absent". Both are JSON blobs in the BlobStore; a small index document in the
key-value store points at the blob.

The stat cache rides in the manifests instead of living in its own key-value documents: for 10,000 files it is about
0.6 MB (over DynamoDB's 400 KB item limit), and stored as part of each delta it grows with the change, not the tree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from dexa.core.errors import CheckpointNotFoundError, StorageError

INDEX_NS = "checkpoints"
HEAD_NS = "checkpoint_heads"
MANIFEST_VERSION = 1

Stat = tuple[int, int, int, int]  # mtime_ns, size, inode, permission bits


def checkpoint_id(seq: int) -> str:
    return f"ckpt_{seq:04d}"


def seq_of(checkpoint: str | int) -> int:
    """`ckpt_0007`, `7` or 7 -> 7. Raises CheckpointNotFoundError for anything else."""
    if isinstance(checkpoint, int):
        return checkpoint
    text = checkpoint.strip()
    digits = text[5:] if text.startswith("ckpt_") else text
    if not digits.isdigit():
        raise CheckpointNotFoundError(f"not a checkpoint id or number: {checkpoint!r} (expected e.g. ckpt_0007 or 7)")
    return int(digits)


def index_key(session_id: str, seq: int) -> str:
    return f"{session_id}:{seq:06d}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Skip:
    path: str
    reason: str  # file_cap | workspace_cap | symlink
    size: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "reason": self.reason, "size": self.size}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Skip:
        return Skip(path=str(data["path"]), reason=str(data["reason"]), size=int(data.get("size", 0)))


@dataclass(slots=True, kw_only=True)
class TreeState:
    """The complete tree state of one checkpoint (a full manifest, or a chain of deltas applied)."""

    files: dict[str, str] = field(default_factory=dict)
    stat: dict[str, Stat] = field(default_factory=dict)
    skipped: list[Skip] = field(default_factory=list)
    scan_ns: int = 0

    def copy(self) -> TreeState:
        return TreeState(files=dict(self.files), stat=dict(self.stat), skipped=list(self.skipped), scan_ns=self.scan_ns)


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint:
    """The index document of one checkpoint (stored in kv namespace `checkpoints`)."""

    id: str
    session_id: str
    seq: int
    reason: str
    created_at: float
    message_id: str | None
    tool_use_id: str | None
    manifest_blob: str
    is_full: bool
    base: str | None  # the previous checkpoint a delta applies to; None for a full snapshot
    full_seq: int  # the full snapshot this checkpoint's chain starts from
    files: int = 0
    changed: int = 0
    hashed: int = 0
    bytes_added: int = 0
    skipped_count: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "key": index_key(self.session_id, self.seq),
            "session_id": self.session_id,
            "seq": self.seq,
            "reason": self.reason,
            "created_at": self.created_at,
            "message_id": self.message_id,
            "tool_use_id": self.tool_use_id,
            "manifest_blob": self.manifest_blob,
            "is_full": self.is_full,
            "base": self.base,
            "full_seq": self.full_seq,
            "files": self.files,
            "changed": self.changed,
            "hashed": self.hashed,
            "bytes_added": self.bytes_added,
            "skipped_count": self.skipped_count,
        }

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Checkpoint:
        try:
            return Checkpoint(
                id=str(data["id"]),
                session_id=str(data["session_id"]),
                seq=int(data["seq"]),
                reason=str(data["reason"]),
                created_at=float(data["created_at"]),
                message_id=data.get("message_id"),
                tool_use_id=data.get("tool_use_id"),
                manifest_blob=str(data["manifest_blob"]),
                is_full=bool(data["is_full"]),
                base=data.get("base"),
                full_seq=int(data["full_seq"]),
                files=int(data.get("files", 0)),
                changed=int(data.get("changed", 0)),
                hashed=int(data.get("hashed", 0)),
                bytes_added=int(data.get("bytes_added", 0)),
                skipped_count=int(data.get("skipped_count", 0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise StorageError(f"checkpoint index document {data.get('key', '?')} is malformed: {exc}") from exc


@dataclass(slots=True, kw_only=True)
class Delta:
    files: dict[str, str | None] = field(default_factory=dict)
    stat: dict[str, Stat | None] = field(default_factory=dict)

    @property
    def changed(self) -> int:
        return len(self.files)


def diff(old: TreeState, new: TreeState, *, touched: set[str] | None = None) -> Delta:
    """What turns `old` into `new`: changed/added paths with their hash, removed ones with None.

    `touched` (from the snapshotter) limits the comparison to paths that may differ; removals are always found.
    """
    delta = Delta()
    candidates = new.files.keys() if touched is None else touched & new.files.keys()
    for path in candidates:
        digest = new.files[path]
        if old.files.get(path) != digest:
            delta.files[path] = digest
    for path in old.files.keys() - new.files.keys():
        delta.files[path] = None
    stat_candidates = new.stat.keys() if touched is None else touched & new.stat.keys()
    for path in stat_candidates:
        st = new.stat[path]
        if old.stat.get(path) != st:
            delta.stat[path] = st
    for path in old.stat.keys() - new.stat.keys():
        delta.stat[path] = None
    return delta


def apply(state: TreeState, delta: Delta, *, skipped: list[Skip], scan_ns: int) -> None:
    """Apply `delta` to `state` in place."""
    for path, digest in delta.files.items():
        if digest is None:
            state.files.pop(path, None)
        else:
            state.files[path] = digest
    for path, st in delta.stat.items():
        if st is None:
            state.stat.pop(path, None)
        else:
            state.stat[path] = st
    state.skipped = list(skipped)
    state.scan_ns = scan_ns


def encode_manifest(*, session_id: str, seq: int, is_full: bool, state: TreeState, delta: Delta) -> bytes:
    files: dict[str, str | None] = dict(state.files) if is_full else delta.files
    stat: dict[str, Any] = (
        {p: list(s) for p, s in state.stat.items()}
        if is_full
        else {p: (None if s is None else list(s)) for p, s in delta.stat.items()}
    )
    doc = {
        "v": MANIFEST_VERSION,
        "session_id": session_id,
        "seq": seq,
        "is_full": is_full,
        "files": files,
        "stat": stat,
        "skipped": [s.to_dict() for s in state.skipped],
        "scan_ns": state.scan_ns,
    }
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


@dataclass(slots=True, kw_only=True)
class Manifest:
    is_full: bool
    delta: Delta
    skipped: list[Skip]
    scan_ns: int


def decode_manifest(data: bytes, *, digest: str) -> Manifest:
    """Parse a manifest blob. Raises StorageError naming the blob when it is not a manifest."""
    try:
        doc = json.loads(data)
        if doc.get("v") != MANIFEST_VERSION:
            raise ValueError(f"unsupported manifest version {doc.get('v')!r}")
        stat: dict[str, Stat | None] = {}
        for path, st in doc["stat"].items():
            stat[path] = None if st is None else (int(st[0]), int(st[1]), int(st[2]), int(st[3]))
        return Manifest(
            is_full=bool(doc["is_full"]),
            delta=Delta(files=dict(doc["files"]), stat=stat),
            skipped=[Skip.from_dict(s) for s in doc.get("skipped", [])],
            scan_ns=int(doc.get("scan_ns", 0)),
        )
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise StorageError(f"checkpoint manifest blob {digest} is corrupt: {exc}") from exc
