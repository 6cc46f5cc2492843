"""Subagent approvals reach the user through the parent session.

Each pending approval of a child session is mirrored into the parent as `Approval(kind="subagent")` with id
`<child_session_id>.<approval_id>`, announced by a `permission.required` event in the parent that carries
`child_session_id`, `child_approval_id` and `parent_tool_use_id`. A decision on either copy (the parent's mirror
through the ordinary approval API, or the child's own) is carried across to the other.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

from dexa.core.engine import TurnEngine
from dexa.core.errors import NotFoundError
from dexa.core.events import EventType
from dexa.core.ports import Store
from dexa.core.session import Approval

from .child_env import SUBAGENT_KEY

KV_MIRRORS = "subagent_approvals"


def mirror_id(child_id: str, approval_id: str) -> str:
    return f"{child_id}.{approval_id}"


@dataclass(slots=True)
class ApprovalRelay:
    engine: TurnEngine
    child_engine: TurnEngine
    store: Store

    async def relay(self, parent_id: str, child_id: str, relayed: set[str]) -> None:
        """Mirror the child's pending approvals into the parent (once each) and announce them there."""
        engine, store = self.engine, self.store
        child = await store.get_session(child_id)
        spec = child.config.extra.get(SUBAGENT_KEY, {})
        for approval in await store.list_approvals(child_id, status="pending"):
            mid = mirror_id(child_id, approval.id)
            relayed.add(approval.id)
            if await store.get_approval(parent_id, mid) is not None:
                continue
            await store.put_approval(
                replace(approval, id=mid, session_id=parent_id, kind="subagent", created_at=time.time())
            )
            link = {
                "parent_session_id": parent_id,
                "mirror_id": mid,
                "child_session_id": child_id,
                "child_approval_id": approval.id,
            }
            await store.kv_put(KV_MIRRORS, f"{parent_id}:{mid}", link)
            await store.kv_put(KV_MIRRORS, f"{parent_id}:{approval.id}", link)
            await engine.emit(
                parent_id,
                EventType.PERMISSION_REQUIRED,
                {
                    "approval_id": mid,
                    "child_session_id": child_id,
                    "child_approval_id": approval.id,
                    "parent_tool_use_id": spec.get("parent_tool_use_id"),
                    "agent_type": spec.get("agent_type"),
                    "subagent": True,
                    "tool_use_id": approval.tool_use_id,
                    "tool_name": approval.tool_name,
                    "input": approval.input,
                    "reason": approval.reason,
                    "rule": approval.rule,
                    "source": approval.source,
                    "kind": approval.kind,
                    "suggestions": approval.suggestions,
                    "options": ["once", "always", "deny"],
                },
            )

    async def sync(self, parent_id: str, child_id: str, relayed: set[str]) -> None:
        """Carry a decision made on either side across to the other."""
        engine, child_engine, store = self.engine, self.child_engine, self.store
        for approval_id in list(relayed):
            child_ap = await store.get_approval(child_id, approval_id)
            mirror = await store.get_approval(parent_id, mirror_id(child_id, approval_id))
            if child_ap is None or mirror is None:
                continue
            if mirror.status != "pending" and child_ap.status == "pending":
                await child_engine.resolve_approval(
                    child_id,
                    approval_id,
                    allow=mirror.status == "allowed",
                    scope=mirror.scope,
                    by=mirror.decided_by or "",
                    message=mirror.message,
                    updated_input=mirror.input if mirror.input != child_ap.input else None,
                )
            elif child_ap.status != "pending" and mirror.status == "pending":
                await engine.resolve_approval(
                    parent_id,
                    mirror.id,
                    allow=child_ap.status == "allowed",
                    scope=child_ap.scope,
                    by=child_ap.decided_by or "",
                    message=child_ap.message,
                )
            if mirror.status != "pending" or child_ap.status != "pending":
                relayed.discard(approval_id)

    async def resolve(
        self,
        parent_session_id: str,
        approval_id: str,
        *,
        allow: bool,
        scope: str = "once",
        by: str = "",
        message: str = "",
        updated_input: dict[str, Any] | None = None,
    ) -> tuple[Approval, bool]:
        """Answer a subagent's approval from the parent session (by mirror id or the child's approval id).

        Raises NotFoundError when no subagent approval with that id was relayed into the parent.
        """
        engine, child_engine, store = self.engine, self.child_engine, self.store
        link = await store.kv_get(KV_MIRRORS, f"{parent_session_id}:{approval_id}")
        if link is None:
            raise NotFoundError(f"no subagent approval {approval_id} in session {parent_session_id}")
        decided, won = await child_engine.resolve_approval(
            link["child_session_id"],
            link["child_approval_id"],
            allow=allow,
            scope=scope,
            by=by,
            message=message,
            updated_input=updated_input,
        )
        mirror = await store.get_approval(parent_session_id, link["mirror_id"])
        if mirror is not None and mirror.status == "pending":
            await engine.resolve_approval(
                parent_session_id,
                link["mirror_id"],
                allow=decided.status == "allowed",
                scope=decided.scope,
                by=by,
                message=message,
            )
        return decided, won
