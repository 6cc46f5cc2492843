"""CheckpointService: the engine's Checkpointer and the API's Rewinder, over the Store and the BlobStore.

Checkpoints survive restarts and resumed sessions: everything lives in the store and the blobs; the in-memory head
cache only saves re-reading the newest manifest chain. Rewinding the conversation hides messages (never deletes
them) and leaves the session's turn counter alone, so new turns get fresh message ids and history stays auditable.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dexa.core.errors import ConfigError, ConflictError, DexaError, SandboxError, StorageError
from dexa.core.events import EventType
from dexa.core.ports import BlobStore, Store, Workspace

from . import retention
from .ledger import Executor, SideEffect, SideEffectLedger
from .manifest import Checkpoint, TreeState, checkpoint_id, diff, encode_manifest
from .remote import RemoteTree
from .repository import CheckpointRepo
from .restore import apply_plan, backup_stamp, fetch_blobs, find_conflicts, keep_copies, plan_restore
from .snapshot import Capture, Snapshotter, tree_for

logger = logging.getLogger(__name__)

MB = 1024 * 1024
MODES = ("conversation", "code", "both")
ON_CONFLICT = ("ask", "overwrite", "keep_copy")
EVENT_SKIP_LIMIT = 100
# Newest tree states kept in memory (a 10,000-file state is a few MB); others are rebuilt from the store on demand.
CACHED_HEADS = 32

WorkspaceFor = Callable[[str], Awaitable[Workspace]]
EmitFn = Callable[[str, str, Mapping[str, Any]], Awaitable[Any]]


@dataclass(slots=True)
class _Head:
    seq: int
    ckpt: Checkpoint | None
    state: TreeState | None


CAP_REASONS = ("file_cap", "workspace_cap")


class CheckpointService:
    """Snapshots the workspace tree at every prompt and before writing tools; rewinds code and/or conversation."""

    def __init__(
        self,
        store: Store,
        blobs: BlobStore,
        workspace_for: WorkspaceFor,
        *,
        emit: EmitFn | None = None,
        max_file_bytes: int = 5 * MB,
        max_workspace_bytes: int = 500 * MB,
        full_every: int = 20,
        ttl_days: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if full_every < 1:
            raise DexaError(f"full_every must be at least 1, got {full_every}", code="invalid_argument")
        self.store = store
        self.blobs = blobs
        self.repo = CheckpointRepo(store, blobs)
        self.ledger = SideEffectLedger(store, clock=clock)
        self.snapshotter = Snapshotter(blobs, max_file_bytes=max_file_bytes, max_workspace_bytes=max_workspace_bytes)
        self.full_every = full_every
        self.ttl_days = ttl_days
        self.clock = clock
        self._workspace_for = workspace_for
        self._emit_fn = emit
        self._heads: dict[str, _Head] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._unavailable: set[str] = set()

    # ------------------------------------------------------------ Checkpointer

    async def checkpoint(
        self, session_id: str, *, reason: str, message_id: str | None, tool_use_id: str | None = None
    ) -> str | None:
        """Snapshot the tree and the conversation position; returns the checkpoint id.

        Returns the previous id when neither the files nor the position changed (except for "prompt", which is
        always a rewind point). A failure never fails the turn: it is logged, emitted as a warning event, and None
        is returned.
        """
        try:
            async with self._lock(session_id):
                return (await self._take(session_id, reason=reason, message_id=message_id, tool_use_id=tool_use_id)).id
        except (StorageError, SandboxError, ConfigError, OSError) as exc:
            # ConfigError: a remote workspace that cannot be reached as configured (no Modal token, say).
            logger.warning("checkpoint (%s) of session %s failed: %s", reason, session_id, exc)
            if isinstance(exc, SandboxError | ConfigError):
                if session_id in self._unavailable:
                    return None
                self._unavailable.add(session_id)
            await self._emit(
                session_id,
                EventType.WARNING,
                {"code": "checkpoint_failed", "message": f"checkpoint ({reason}) failed: {exc}"},
            )
            return None

    # ------------------------------------------------------------ Rewinder

    async def list_checkpoints(self, session_id: str) -> list[dict[str, Any]]:
        """Newest first: id, seq, created_at, reason, message_id, files, changed, skipped_count, is_full..."""
        return [_public(c) for c in reversed(await self.repo.list(session_id))]

    async def describe(self, session_id: str, checkpoint: str | int) -> dict[str, Any]:
        """One checkpoint with its full skipped list and the length of the chain a restore replays."""
        ckpt = await self.repo.get(session_id, checkpoint)
        chain = await self.repo.chain(ckpt)
        state = await self.repo.state(ckpt)
        return {**_public(ckpt), "skipped": [s.to_dict() for s in state.skipped], "chain_length": len(chain)}

    async def rewind(
        self, session_id: str, *, checkpoint_id: str, mode: str = "both", on_conflict: str = "ask"
    ) -> dict[str, Any]:
        """Rewind the conversation, the code, or both to a checkpoint.

        With on_conflict="ask", files changed outside Dexa since it last saw them make the call return
        {"status": "conflict", "conflicts": [...]} without changing anything; "keep_copy" saves them under
        .dexa/backups/<stamp>/ first; "overwrite" proceeds (a "rewind" checkpoint taken first can still undo it).

        Raises:
            CheckpointNotFoundError: no such checkpoint in this session.
            ConflictError: a turn is running (code "session_busy").
            DexaError: invalid mode or on_conflict (code "invalid_argument").
        """
        on_conflict = on_conflict.replace("-", "_")
        if mode not in MODES:
            raise DexaError(f"mode must be one of {', '.join(MODES)}; got {mode!r}", code="invalid_argument")
        if on_conflict not in ON_CONFLICT:
            raise DexaError(
                f"on_conflict must be one of {', '.join(ON_CONFLICT)}; got {on_conflict!r}", code="invalid_argument"
            )
        async with self._lock(session_id):
            await self._ensure_idle(session_id)
            target = await self.repo.get(session_id, checkpoint_id)
            report: dict[str, Any] = {
                "status": "ok",
                "checkpoint_id": target.id,
                "seq": target.seq,
                "mode": mode,
                "on_conflict": on_conflict,
                "message_id": target.message_id,
            }
            if mode in ("code", "both"):
                report.update(await self._rewind_code(session_id, target, on_conflict))
            if report["status"] != "conflict" and mode in ("conversation", "both"):
                report.update(await self._rewind_conversation(session_id, target))
            report["side_effects"] = _effects_report(await self.ledger.after(session_id, target.seq))
            if report["status"] != "conflict":
                await self._emit(session_id, EventType.SESSION_REWOUND, _event_summary(report))
            return report

    # ------------------------------------------------------------ ledger and retention

    async def record_side_effect(
        self,
        session_id: str,
        *,
        kind: str,
        summary: str,
        data: Mapping[str, Any] | None = None,
        compensation: Mapping[str, Any] | None = None,
    ) -> SideEffect:
        return await self.ledger.record(session_id, kind=kind, summary=summary, data=data, compensation=compensation)

    async def compensate(self, session_id: str, effect_id: str, executor: Executor) -> SideEffect:
        return await self.ledger.compensate(session_id, effect_id, executor)

    async def expire(self, older_than_days: float | None = None) -> dict[str, Any]:
        """Delete checkpoints older than the TTL (whole delta chains only), then garbage-collect their blobs."""
        days = self.ttl_days if older_than_days is None else older_than_days
        result = await retention.expire(self.repo, self.store, older_than_s=days * 86400, now=self.clock())
        for sid in result["sessions"]:
            self._heads.pop(sid, None)
        result["gc"] = await self.gc()
        return result

    async def gc(self) -> dict[str, int]:
        """Delete blobs that expired checkpoints referenced and no remaining checkpoint does."""
        return await retention.gc(self.repo, self.store, self.blobs)

    async def sweep(self, *, grace_s: float = retention.SWEEP_GRACE_S) -> dict[str, int]:
        """Delete every blob of a local FileBlobStore that no checkpoint references (retention.sweep)."""
        return await retention.sweep(self.repo, self.blobs, now=self.clock(), grace_s=grace_s)

    # ------------------------------------------------------------ internals: taking checkpoints

    def _lock(self, session_id: str) -> asyncio.Lock:
        return self._locks.setdefault(session_id, asyncio.Lock())

    async def _head(self, session_id: str) -> _Head:
        cached = self._heads.pop(session_id, None)
        if cached is not None:
            self._heads[session_id] = cached  # most recently used last
            return cached
        seq, ckpt = await self.repo.latest(session_id)
        state = None
        if ckpt is not None:
            try:
                state = await self.repo.state(ckpt)
            except StorageError as exc:
                logger.warning(
                    "session %s: cannot rebuild %s (%s); the next checkpoint is a full one", session_id, ckpt.id, exc
                )
                ckpt = None
        head = _Head(seq=seq, ckpt=ckpt, state=state)
        self._remember(session_id, head)
        return head

    def _remember(self, session_id: str, head: _Head) -> None:
        self._heads.pop(session_id, None)
        self._heads[session_id] = head
        while len(self._heads) > CACHED_HEADS:
            self._heads.pop(next(iter(self._heads)))

    async def _take(
        self,
        session_id: str,
        *,
        reason: str,
        message_id: str | None,
        tool_use_id: str | None,
        root: str | RemoteTree | None = None,
        capture: Capture | None = None,
    ) -> Checkpoint:
        if root is None:
            root = tree_for(await self._workspace_for(session_id))
        if message_id is None and reason != "prompt":
            # The engine does not know the position before a tool call; the last visible message is it.
            visible = await self.store.list_messages(session_id)
            message_id = visible[-1].id if visible else None
        for _ in range(3):
            head = await self._head(session_id)
            cap = capture or await self.snapshotter.capture(root, head.state)
            capture = None
            ckpt = await self._commit(
                session_id, head, cap, reason=reason, message_id=message_id, tool_use_id=tool_use_id
            )
            if ckpt is not None:
                return ckpt
            self._heads.pop(session_id, None)  # another process took this seq: reload its state and rescan
        raise ConflictError(f"session {session_id}: could not allocate a checkpoint number (concurrent writers)")

    async def _commit(
        self,
        session_id: str,
        head: _Head,
        cap: Capture,
        *,
        reason: str,
        message_id: str | None,
        tool_use_id: str | None,
    ) -> Checkpoint | None:
        previous = head.state or TreeState()
        trusted = head.state is not None and cap.previous is head.state
        delta = diff(previous, cap.state, touched=cap.touched if trusted else None)
        same_skips = [(s.path, s.reason) for s in previous.skipped] == [(s.path, s.reason) for s in cap.state.skipped]
        if (
            head.ckpt is not None
            and reason != "prompt"
            and not delta.files
            and same_skips
            and head.ckpt.message_id == message_id
        ):
            return head.ckpt
        seq = head.seq + 1
        base = head.ckpt
        if base is not None and (
            seq - base.full_seq >= self.full_every or await self.repo.find(session_id, base.seq) is None
        ):
            base = None
        blob = encode_manifest(session_id=session_id, seq=seq, is_full=base is None, state=cap.state, delta=delta)
        digest = hashlib.sha256(blob).hexdigest()
        new_blob = not await self.blobs.has_blob(digest)
        if new_blob:
            digest = await self.blobs.put_blob(blob)
        ckpt = Checkpoint(
            id=checkpoint_id(seq),
            session_id=session_id,
            seq=seq,
            reason=reason,
            created_at=self.clock(),
            message_id=message_id,
            tool_use_id=tool_use_id,
            manifest_blob=digest,
            is_full=base is None,
            base=None if base is None else base.id,
            full_seq=seq if base is None else base.full_seq,
            files=len(cap.state.files),
            changed=delta.changed,
            hashed=cap.hashed,
            bytes_added=cap.bytes_added + (len(blob) if new_blob else 0),
            skipped_count=len(cap.state.skipped),
        )
        if not await self.repo.insert(ckpt):
            return None
        self._remember(session_id, _Head(seq=seq, ckpt=ckpt, state=cap.state))
        skipped = [s.to_dict() for s in cap.state.skipped]
        await self._emit(
            session_id,
            EventType.CHECKPOINT_CREATED,
            {
                **_public(ckpt),
                "checkpoint_id": ckpt.id,
                "skipped": skipped[:EVENT_SKIP_LIMIT],
                "skipped_truncated": len(skipped) > EVENT_SKIP_LIMIT,
            },
        )
        await self._warn_caps(session_id, previous, cap.state)
        return ckpt

    async def _warn_caps(self, session_id: str, previous: TreeState, state: TreeState) -> None:
        """A warning event when the size caps leave files out that the previous checkpoint did not: the user must
        know those files cannot be rewound. Repeats of the same skips stay quiet (they are in each checkpoint)."""
        before = {(s.path, s.reason) for s in previous.skipped}
        fresh = [s for s in state.skipped if s.reason in CAP_REASONS and (s.path, s.reason) not in before]
        if not fresh:
            return
        by_reason = {r: [s for s in fresh if s.reason == r] for r in CAP_REASONS}
        parts = []
        for reason, skips in by_reason.items():
            if skips:
                limit = (
                    self.snapshotter.max_file_bytes if reason == "file_cap" else self.snapshotter.max_workspace_bytes
                )
                what = "per-file" if reason == "file_cap" else "workspace"
                names = ", ".join(s.path for s in skips[:5]) + (f" and {len(skips) - 5} more" if len(skips) > 5 else "")
                parts.append(
                    f"{len(skips)} files ({sum(s.size or 0 for s in skips) / MB:.1f} MB) over the {what} cap of "
                    f"{limit / MB:.0f} MB: {names}"
                )
        await self._emit(
            session_id,
            EventType.WARNING,
            {
                "code": "checkpoint_capped",
                "message": "checkpoint left files out, they cannot be rewound: " + "; ".join(parts),
                "skipped": [s.to_dict() for s in fresh[:EVENT_SKIP_LIMIT]],
                "skipped_truncated": len(fresh) > EVENT_SKIP_LIMIT,
            },
        )

    # ------------------------------------------------------------ internals: rewinding

    async def _ensure_idle(self, session_id: str) -> None:
        session = await self.store.get_session(session_id)
        if session.turn_state is not None and session.status in ("running", "waiting", "paused"):
            raise ConflictError(
                f"session {session_id} is running turn {session.turn_state.turn}; cancel it or wait before rewinding",
                code="session_busy",
            )

    async def _rewind_code(self, session_id: str, target: Checkpoint, on_conflict: str) -> dict[str, Any]:
        workspace = await self._workspace_for(session_id)
        root = tree_for(workspace)
        root_path = root.root if isinstance(root, RemoteTree) else root
        head = await self._head(session_id)
        target_state = await self.repo.state(target)
        current = await self.snapshotter.capture(root, head.state)
        plan = plan_restore(target_state, current.state)
        plan.conflicts = await find_conflicts(plan, current.state, head.state, lambda: self._known_states(session_id))
        result: dict[str, Any] = {
            "restored": [],
            "deleted": [],
            "unchanged": plan.unchanged,
            "conflicts": plan.conflicts,
            "kept_copies": [],
            "skipped": plan.left_alone,
            "failed": [],
        }
        if plan.conflicts and on_conflict == "ask":
            return {**result, "status": "conflict"}
        contents, failed = await fetch_blobs(self.blobs, plan.writes)
        # Taken from the capture above, so even "overwrite" leaves the replaced content one rewind away.
        undo = await self._take(
            session_id, reason="rewind", message_id=None, tool_use_id=None, root=root, capture=current
        )
        if plan.conflicts and on_conflict == "keep_copy":
            result["kept_copies"] = await keep_copies(workspace, root_path, plan.conflicts, backup_stamp())
        for path in [f["path"] for f in failed]:
            plan.writes.pop(path, None)
        if isinstance(root, RemoteTree):
            restored, deleted, write_failed = await root.apply(plan, contents, target_state)
        else:
            restored, deleted, write_failed = await apply_plan(workspace, root, plan, contents, target_state, host=True)
        failed += write_failed
        result.update(restored=restored, deleted=deleted, failed=failed, undo_checkpoint_id=undo.id)
        if failed:
            result["status"] = "partial"
            result["error"] = f"{len(failed)} file(s) could not be restored to {target.id}: " + "; ".join(
                f"{f['path']}: {f['error']}" for f in failed[:5]
            )
            logger.warning("session %s: partial code rewind to %s: %s", session_id, target.id, result["error"])
        return result

    async def _known_states(self, session_id: str) -> dict[str, set[str]]:
        """Every content hash any checkpoint of the session recorded, per path."""
        known: dict[str, set[str]] = {}
        for ckpt in await self.repo.list(session_id):
            try:
                manifest = await self.repo.manifest(ckpt)
            except StorageError as exc:
                logger.warning("session %s: %s (treating its files as unknown)", session_id, exc)
                continue
            for path, digest in manifest.delta.files.items():
                if digest is not None:
                    known.setdefault(path, set()).add(digest)
        return known

    async def _rewind_conversation(self, session_id: str, target: Checkpoint) -> dict[str, Any]:
        everything = await self.store.list_messages(session_id, include_hidden=True)
        visible_ids = {m.id for m in await self.store.list_messages(session_id)}
        ids = [m.id for m in everything]
        start = ids.index(target.message_id) + 1 if target.message_id in ids else 0
        after = [m for m in everything[start:] if m.id in visible_ids]
        prompt = next((m.text for m in after if m.role == "user" and not m.synthetic and m.text), "")
        hidden = await self.store.hide_messages_after(session_id, target.message_id)
        out: dict[str, Any] = {"messages_hidden": hidden, "prompt": prompt}
        if target.message_id is not None and target.message_id not in visible_ids:
            out["warning"] = (
                f"message {target.message_id} was already hidden by an earlier rewind; the conversation "
                "now ends at the last message still visible before it"
            )
        return out

    async def _emit(self, session_id: str, type_: str, data: Mapping[str, Any]) -> None:
        if self._emit_fn is not None:
            await self._emit_fn(session_id, type_, data)


def _public(c: Checkpoint) -> dict[str, Any]:
    return {
        "id": c.id,
        "seq": c.seq,
        "created_at": c.created_at,
        "reason": c.reason,
        "message_id": c.message_id,
        "tool_use_id": c.tool_use_id,
        "files": c.files,
        "changed": c.changed,
        "skipped_count": c.skipped_count,
        "is_full": c.is_full,
        "hashed": c.hashed,
        "bytes_added": c.bytes_added,
    }


def _effects_report(effects: list[SideEffect]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for e in effects:
        entry = e.to_dict()
        entry["undone"] = False  # a rewind never undoes these; compensation is a separate, explicit action
        entry["offer"] = None if e.compensation is None or (e.compensated or {}).get("ok") else e.compensation
        out.append(entry)
    return out


def _event_summary(report: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("checkpoint_id", "seq", "mode", "status", "message_id", "messages_hidden", "undo_checkpoint_id", "error")
    data = {k: report[k] for k in keys if k in report}
    for k in ("restored", "deleted", "conflicts", "kept_copies", "failed", "side_effects"):
        if k in report:
            data[f"{k}_count"] = len(report[k])
    data["conflicts"] = list(report.get("conflicts", []))[:EVENT_SKIP_LIMIT]
    return data
