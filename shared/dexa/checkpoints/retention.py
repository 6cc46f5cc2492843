"""TTL cleanup and blob garbage collection.

Expiry works on whole segments (a full snapshot and the deltas built on it): a delta is useless without its chain,
so a segment goes only when its newest checkpoint is past the TTL. Before deleting index documents, expiry writes the
blob digests they referenced to a pending list (kv `checkpoint_gc`), so a crash in between loses nothing. `gc` then
deletes each pending blob that no remaining checkpoint of any session references (content is deduplicated across
sessions, so another session may still need it).

Blob deletion needs a store that can delete: a `delete_blob(digest)` coroutine, or the FileBlobStore layout
(`root/ab/cdef...`). Other stores keep the blobs and report them as `retained`. The BlobStore is shared with other
features; a blob with identical bytes stored by another feature is indistinguishable by hash, so such stores should
keep their own references or use a separate BlobStore.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

from dexa.core.errors import StorageError
from dexa.core.ports import BlobStore, KeyValueStore

from .manifest import Checkpoint
from .repository import ORG, CheckpointRepo

logger = logging.getLogger(__name__)

GC_NS = "checkpoint_gc"
GC_CHUNK = 2000  # digests per pending document; keeps each well under DynamoDB's 400 KB item limit


def segments(checkpoints: list[Checkpoint]) -> list[list[Checkpoint]]:
    """Split one session's checkpoints (any order) into chains that start at a full snapshot."""
    out: list[list[Checkpoint]] = []
    for ckpt in sorted(checkpoints, key=lambda c: c.seq):
        if ckpt.is_full or not out:
            out.append([ckpt])
        else:
            out[-1].append(ckpt)
    return out


async def _references(repo: CheckpointRepo, ckpt: Checkpoint) -> set[str]:
    refs = {ckpt.manifest_blob}
    try:
        manifest = await repo.manifest(ckpt)
    except StorageError as exc:
        logger.warning("%s", exc)
        return refs
    refs.update(d for d in manifest.delta.files.values() if d is not None)
    return refs


async def expire(repo: CheckpointRepo, kv: KeyValueStore, *, older_than_s: float, now: float) -> dict[str, Any]:
    cutoff = now - older_than_s
    by_session: dict[str, list[Checkpoint]] = defaultdict(list)
    for ckpt in await repo.all():
        by_session[ckpt.session_id].append(ckpt)
    doomed: list[Checkpoint] = []
    for ckpts in by_session.values():
        for segment in segments(ckpts):
            if segment[-1].created_at < cutoff:
                doomed.extend(segment)
    candidates: set[str] = set()
    for ckpt in doomed:
        candidates |= await _references(repo, ckpt)
    ordered = sorted(candidates)
    for i in range(0, len(ordered), GC_CHUNK):
        key = uuid.uuid4().hex
        await kv.kv_put(GC_NS, key, {"key": key, "digests": ordered[i : i + GC_CHUNK]}, org_id=ORG)
    for ckpt in doomed:
        await repo.delete(ckpt)
    sessions = sorted({c.session_id for c in doomed})
    logger.info("expired %d checkpoints from %d sessions", len(doomed), len(sessions))
    return {"deleted": len(doomed), "sessions": sessions, "candidate_blobs": len(candidates)}


async def gc(repo: CheckpointRepo, kv: KeyValueStore, blobs: BlobStore) -> dict[str, int]:
    pending = await kv.kv_list(GC_NS, org_id=ORG)
    if not pending:
        return {"deleted_blobs": 0, "freed_bytes": 0, "kept_referenced": 0, "retained": 0}
    candidates = {d for doc in pending for d in doc.get("digests", [])}
    referenced: set[str] = set()
    for ckpt in await repo.all():
        referenced |= await _references(repo, ckpt)
    deleted = retained = freed = 0
    for digest in sorted(candidates - referenced):
        size = await _delete_blob(blobs, digest)
        if size is None:
            retained += 1
        else:
            deleted += 1
            freed += size
    for doc in pending:
        await kv.kv_delete(GC_NS, str(doc["key"]), org_id=ORG)
    return {
        "deleted_blobs": deleted,
        "freed_bytes": freed,
        "kept_referenced": len(candidates & referenced),
        "retained": retained,
    }


async def _delete_blob(blobs: BlobStore, digest: str) -> int | None:
    """Delete one blob; the bytes freed (0 when unknown or already gone), or None when it could not be deleted."""
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        logger.warning("not deleting %r: not a sha256 digest", digest)
        return None
    delete = getattr(blobs, "delete_blob", None)
    if delete is not None:
        await delete(digest)
        return 0
    root = getattr(blobs, "root", None)
    if not isinstance(root, Path):
        return None
    path = root / digest[:2] / digest[2:]
    try:
        size = path.lstat().st_size
        path.unlink()
    except FileNotFoundError:
        return 0
    except OSError as exc:
        logger.warning("cannot delete blob %s: %s", digest, exc)
        return None
    return size


SWEEP_GRACE_S = 3600.0  # blobs younger than this may belong to a checkpoint being taken right now


async def sweep(
    repo: CheckpointRepo, blobs: BlobStore, *, now: float, grace_s: float = SWEEP_GRACE_S
) -> dict[str, int]:
    """Delete every blob of a FileBlobStore that no checkpoint references: what interrupted runs, deleted sessions
    and older releases left behind, which `gc` (pending lists only) never sees.

    Only for a store whose blobs are all checkpoint content (the local `$DEXA_HOME/blobs`); a blob newer than
    `grace_s` is kept, since a checkpoint stores its content before its index document exists. Returns the number
    and bytes deleted and the number kept.
    """
    root = getattr(blobs, "root", None)
    if not isinstance(root, Path):
        return {"deleted_blobs": 0, "freed_bytes": 0, "kept": 0}
    referenced: set[str] = set()
    for ckpt in await repo.all():
        referenced |= await _references(repo, ckpt)  # full manifests list the whole tree
    deleted = freed = kept = 0
    for shard in sorted(p for p in root.iterdir() if p.is_dir() and len(p.name) == 2):
        for path in shard.iterdir():
            digest = shard.name + path.name
            if len(digest) != 64 or digest in referenced:
                kept += 1
                continue
            try:
                st = path.lstat()
            except FileNotFoundError:
                continue
            if now - st.st_mtime < grace_s:
                kept += 1
                continue
            try:
                path.unlink()
            except OSError as exc:
                logger.warning("cannot delete blob %s: %s", digest, exc)
                kept += 1
                continue
            deleted += 1
            freed += st.st_size
    return {"deleted_blobs": deleted, "freed_bytes": freed, "kept": kept}
