"""Where checkpoints live: index documents in the key-value store, manifests in the BlobStore.

    kv  checkpoints/<session_id>:<seq:06d>   the index document (Checkpoint.to_dict)
    kv  checkpoint_heads/<session_id>         {"seq": last allocated seq, "id": its checkpoint id}
    blob <manifest_blob>                      the manifest JSON (full state or a delta vs `base`)

Index documents are written with put-if-absent, so two processes checkpointing the same session can never both own
a sequence number; the head is only a hint and is re-validated by probing forward.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from dexa.core.errors import CheckpointNotFoundError, NotFoundError, StorageError
from dexa.core.ports import BlobStore, KeyValueLists, KeyValueStore

from .manifest import (
    HEAD_NS,
    INDEX_NS,
    Checkpoint,
    Manifest,
    TreeState,
    apply,
    checkpoint_id,
    decode_manifest,
    index_key,
    seq_of,
)

# kv documents are not scoped to an org: keys start with the (globally unique) session id and access control happens
# where the session is loaded.
ORG = ""


class CheckpointRepo:
    def __init__(self, kv: KeyValueStore, blobs: BlobStore) -> None:
        self.kv = kv
        self.blobs = blobs

    async def find(self, session_id: str, seq: int) -> Checkpoint | None:
        doc = await self.kv.kv_get(INDEX_NS, index_key(session_id, seq), org_id=ORG)
        return None if doc is None else Checkpoint.from_dict(doc)

    async def get(self, session_id: str, checkpoint: str | int) -> Checkpoint:
        seq = seq_of(checkpoint)
        found = await self.find(session_id, seq)
        if found is None:
            raise CheckpointNotFoundError(f"checkpoint {checkpoint_id(seq)} not found in session {session_id}")
        return found

    async def list(self, session_id: str) -> list[Checkpoint]:
        """Oldest first."""
        docs = await self.kv.kv_list(INDEX_NS, prefix=f"{session_id}:", org_id=ORG)
        return sorted((Checkpoint.from_dict(d) for d in docs), key=lambda c: c.seq)

    async def all(self) -> list[Checkpoint]:
        return [Checkpoint.from_dict(d) for d in await self.kv.kv_list(INDEX_NS, org_id=ORG)]

    async def insert(self, ckpt: Checkpoint) -> bool:
        """Claim the checkpoint's sequence number; False when another writer already owns it."""
        if not await self.kv.kv_put_if_absent(
            INDEX_NS, index_key(ckpt.session_id, ckpt.seq), ckpt.to_dict(), org_id=ORG
        ):
            return False
        await self.kv.kv_put(
            HEAD_NS, ckpt.session_id, {"session_id": ckpt.session_id, "seq": ckpt.seq, "id": ckpt.id}, org_id=ORG
        )
        return True

    async def delete(self, ckpt: Checkpoint) -> None:
        await self.kv.kv_delete(INDEX_NS, index_key(ckpt.session_id, ckpt.seq), org_id=ORG)

    async def head(self, session_id: str) -> dict[str, Any] | None:
        return await self.kv.kv_get(HEAD_NS, session_id, org_id=ORG)

    async def latest(self, session_id: str) -> tuple[int, Checkpoint | None]:
        """(last allocated seq, its checkpoint or None when it was expired or never existed)."""
        head = await self.head(session_id)
        seq = int(head["seq"]) if head else 0
        found = await self.find(session_id, seq) if seq else None
        # A crash between the index write and the head write leaves the head one behind: probe forward.
        while (nxt := await self.find(session_id, seq + 1)) is not None:
            seq, found = seq + 1, nxt
        return seq, found

    async def manifest(self, ckpt: Checkpoint) -> Manifest:
        try:
            data = await self.blobs.get_blob(ckpt.manifest_blob)
        except NotFoundError as exc:
            raise StorageError(
                f"checkpoint {ckpt.id} of session {ckpt.session_id}: manifest blob {ckpt.manifest_blob} is missing"
            ) from exc
        return decode_manifest(data, digest=ckpt.manifest_blob)

    async def chain(self, ckpt: Checkpoint) -> list[Checkpoint]:
        """The checkpoints whose manifests rebuild `ckpt`: its full snapshot first, `ckpt` last."""
        chain = [ckpt]
        while not chain[-1].is_full:
            base = chain[-1].base
            if base is None:
                raise StorageError(f"checkpoint {chain[-1].id} is a delta without a base")
            parent = await self.find(ckpt.session_id, seq_of(base))
            if parent is None:
                raise StorageError(
                    f"checkpoint {ckpt.id} of session {ckpt.session_id} cannot be rebuilt: its base {base} is gone"
                )
            chain.append(parent)
        chain.reverse()
        return chain

    async def state(self, ckpt: Checkpoint) -> TreeState:
        """The full tree state of `ckpt`, rebuilt from at most `full_every` manifests."""
        state = TreeState()
        for link in await self.chain(ckpt):
            manifest = await self.manifest(link)
            if manifest.is_full:
                state = TreeState()
            apply(state, manifest.delta, skipped=manifest.skipped, scan_ns=manifest.scan_ns)
        return state


async def session_store_bytes(kv: KeyValueStore, session_id: str) -> int:
    """Bytes the session's checkpoints added to the blob store (content first stored by them, plus manifests).

    Content is deduplicated across sessions, so a blob is counted for the session that stored it first; the sum
    over sessions is the store's size, and `dexa checkpoints gc` frees what no remaining checkpoint references.
    """
    docs = await kv.kv_list(INDEX_NS, prefix=f"{session_id}:", org_id=ORG)
    return _bytes(docs)


async def sessions_store_bytes(kv: KeyValueLists, session_ids: Sequence[str]) -> dict[str, int]:
    """session_store_bytes of each session, read together (a page of a session listing)."""
    found = await kv.kv_list_many(INDEX_NS, [f"{sid}:" for sid in session_ids], org_id=ORG)
    return {sid: _bytes(found[f"{sid}:"]) for sid in session_ids}


def _bytes(docs: Iterable[dict[str, Any]]) -> int:
    return sum(int(d.get("bytes_added", 0)) for d in docs)
