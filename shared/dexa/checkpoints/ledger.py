"""The side-effect ledger: actions a rewind cannot undo, recorded against the checkpoint current at the time.

Any module that does something outside the workspace records it, in one call:

    from dexa.checkpoints import record_side_effect

    await record_side_effect(
        store, session_id,
        kind="pr_created", summary="Opened PR #42 on acme/web",
        data={"repo": "acme/web", "number": 42, "url": "https://github.com/acme/web/pull/42"},
        compensation={"action": "close_pr", "args": {"repo": "acme/web", "number": 42}},
    )

`store` is anything with the KeyValueStore methods (the runtime store, or `ToolContext.kv` inside a tool). Rewind
lists the entries recorded after its target checkpoint and offers their compensations; it never claims to have
undone them. `SideEffectLedger.compensate` runs one compensation, at most once, through an executor you inject:
`async def executor(action: str, args: dict) -> Mapping | None`.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from dexa.core.errors import ConflictError, DexaError, NotFoundError
from dexa.core.ports import KeyValueStore

from .manifest import HEAD_NS
from .repository import ORG

logger = logging.getLogger(__name__)

NS = "side_effects"
# Known kinds and compensations; other strings are accepted so new integrations need no change here.
KINDS = (
    "email_sent",
    "message_posted",
    "branch_pushed",
    "pr_created",
    "pr_merged",
    "invite_sent",
    "crm_updated",
    "ticket_updated",
    "deployed",
    "other",
)
ACTIONS = ("close_pr", "delete_branch", "revert_commit", "delete_message", "cancel_invite")

Executor = Callable[[str, dict[str, Any]], Awaitable[Mapping[str, Any] | None]]


@dataclass(frozen=True, slots=True, kw_only=True)
class SideEffect:
    id: str
    session_id: str
    kind: str
    summary: str
    data: dict[str, Any] = field(default_factory=dict)
    # {"action": "close_pr", "args": {...}}, or None when nothing can compensate (a sent email).
    compensation: dict[str, Any] | None = None
    checkpoint_id: str | None = None  # the newest checkpoint when the action happened
    checkpoint_seq: int = 0
    created_at: float = 0.0
    compensated: dict[str, Any] | None = None  # {"ok", "at", "result"|"error"} once a compensation ran

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "key": f"{self.session_id}:{self.id}",
            "session_id": self.session_id,
            "kind": self.kind,
            "summary": self.summary,
            "data": self.data,
            "compensation": self.compensation,
            "reversible": self.compensation is not None,
            "checkpoint_id": self.checkpoint_id,
            "checkpoint_seq": self.checkpoint_seq,
            "created_at": self.created_at,
            "compensated": self.compensated,
        }

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> SideEffect:
        return SideEffect(
            id=str(d["id"]),
            session_id=str(d["session_id"]),
            kind=str(d["kind"]),
            summary=str(d.get("summary", "")),
            data=dict(d.get("data") or {}),
            compensation=d.get("compensation"),
            checkpoint_id=d.get("checkpoint_id"),
            checkpoint_seq=int(d.get("checkpoint_seq", 0)),
            created_at=float(d.get("created_at", 0.0)),
            compensated=d.get("compensated"),
        )


def _validate(kind: str, summary: str, compensation: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not kind or not kind.replace("_", "").isalnum():
        raise DexaError(f"side effect kind must be a word like 'pr_created', got {kind!r}", code="invalid_argument")
    if not summary:
        raise DexaError("side effect summary is required (what happened, in one line)", code="invalid_argument")
    if compensation is None or compensation.get("action") is None:
        return None
    action = compensation["action"]
    if not isinstance(action, str) or not action:
        raise DexaError(f"compensation.action must be a string, got {action!r}", code="invalid_argument")
    args = compensation.get("args") or {}
    if not isinstance(args, Mapping):
        raise DexaError("compensation.args must be an object", code="invalid_argument")
    return {"action": action, "args": dict(args)}


class SideEffectLedger:
    def __init__(self, kv: KeyValueStore, *, clock: Callable[[], float] = time.time) -> None:
        self.kv = kv
        self.clock = clock

    async def record(
        self,
        session_id: str,
        *,
        kind: str,
        summary: str,
        data: Mapping[str, Any] | None = None,
        compensation: Mapping[str, Any] | None = None,
    ) -> SideEffect:
        """Record an irreversible action. Raises DexaError(code='invalid_argument') for a bad kind or summary."""
        comp = _validate(kind, summary, compensation)
        head = await self.kv.kv_get(HEAD_NS, session_id, org_id=ORG) or {}
        now = self.clock()
        effect = SideEffect(
            id=f"fx_{int(now * 1_000_000):016d}_{uuid.uuid4().hex[:6]}",
            session_id=session_id,
            kind=kind,
            summary=summary,
            data=dict(data or {}),
            compensation=comp,
            checkpoint_id=head.get("id"),
            checkpoint_seq=int(head.get("seq", 0)),
            created_at=now,
        )
        await self.kv.kv_put(NS, f"{session_id}:{effect.id}", effect.to_dict(), org_id=ORG)
        logger.info("side effect %s recorded for session %s: %s", effect.kind, session_id, summary)
        return effect

    async def list(self, session_id: str) -> list[SideEffect]:
        docs = await self.kv.kv_list(NS, prefix=f"{session_id}:fx_", org_id=ORG)
        return sorted((SideEffect.from_dict(d) for d in docs), key=lambda e: (e.created_at, e.id))

    async def after(self, session_id: str, seq: int) -> list[SideEffect]:
        """Effects that happened after checkpoint `seq` was taken (the newest checkpoint then was `seq` or later)."""
        return [e for e in await self.list(session_id) if e.checkpoint_seq >= seq]

    async def get(self, session_id: str, effect_id: str) -> SideEffect:
        doc = await self.kv.kv_get(NS, f"{session_id}:{effect_id}", org_id=ORG)
        if doc is None:
            raise NotFoundError(f"side effect {effect_id} not found in session {session_id}")
        return SideEffect.from_dict(doc)

    async def compensate(self, session_id: str, effect_id: str, executor: Executor) -> SideEffect:
        """Run the effect's compensating action once and record the outcome.

        Raises:
            NotFoundError: unknown effect, or it has no compensating action.
            ConflictError: it was already compensated, or another caller is compensating it now.
        """
        effect = await self.get(session_id, effect_id)
        if effect.compensation is None:
            raise NotFoundError(f"side effect {effect_id} ({effect.kind}) has no compensating action")
        if effect.compensated is not None and effect.compensated.get("ok"):
            raise ConflictError(f"side effect {effect_id} was already compensated", code="already_compensated")
        claim = f"{session_id}:{effect_id}:claim"
        if not await self.kv.kv_put_if_absent(NS + "_claims", claim, {"at": self.clock()}, org_id=ORG):
            raise ConflictError(f"side effect {effect_id} is already being compensated", code="already_compensated")
        action, args = effect.compensation["action"], dict(effect.compensation.get("args") or {})
        try:
            result = await executor(action, args)
        except DexaError as exc:
            # An expected failure (API refused, PR already closed...): record it and allow a retry.
            await self.kv.kv_delete(NS + "_claims", claim, org_id=ORG)
            return await self._save(replace(effect, compensated={"ok": False, "at": self.clock(), "error": str(exc)}))
        except Exception as exc:
            await self.kv.kv_delete(NS + "_claims", claim, org_id=ORG)
            await self._save(
                replace(effect, compensated={"ok": False, "at": self.clock(), "error": f"{type(exc).__name__}: {exc}"})
            )
            raise
        return await self._save(
            replace(effect, compensated={"ok": True, "at": self.clock(), "result": dict(result or {})})
        )

    async def _save(self, effect: SideEffect) -> SideEffect:
        await self.kv.kv_put(NS, f"{effect.session_id}:{effect.id}", effect.to_dict(), org_id=ORG)
        return effect


async def record_side_effect(
    kv: KeyValueStore,
    session_id: str,
    *,
    kind: str,
    summary: str,
    data: Mapping[str, Any] | None = None,
    compensation: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Record an action a rewind cannot undo; returns the stored entry. See the module docstring for an example."""
    effect = await SideEffectLedger(kv).record(
        session_id, kind=kind, summary=summary, data=data, compensation=compensation
    )
    return effect.to_dict()
