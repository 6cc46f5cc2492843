"""Plain-dict codecs for the durable records, shared by every store adapter (SQLite, DynamoDB)."""

from __future__ import annotations

from typing import Any

from .messages import Usage
from .session import Approval, Session, SessionConfig, ToolRecord, TurnState


def session_to_dict(s: Session) -> dict[str, Any]:
    return {
        "id": s.id,
        "org_id": s.org_id,
        "user_id": s.user_id,
        "cwd": s.cwd,
        "model": s.model,
        "permission_mode": s.permission_mode,
        "title": s.title,
        "status": s.status,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
        "turn_state": None if s.turn_state is None else s.turn_state.to_dict(),
        "turns_completed": s.turns_completed,
        "usage": s.usage.to_dict(),
        "cost_usd": s.cost_usd,
        "cancel_requested": s.cancel_requested,
        "parent_id": s.parent_id,
        "config": s.config.to_dict(),
        "result": s.result,
        "error": s.error,
        "version": s.version,
    }


def session_from_dict(d: dict[str, Any]) -> Session:
    ts = d.get("turn_state")
    return Session(
        id=d["id"],
        org_id=d["org_id"],
        user_id=d.get("user_id", ""),
        cwd=d["cwd"],
        model=d["model"],
        permission_mode=d.get("permission_mode", "default"),
        title=d.get("title", ""),
        status=d.get("status", "idle"),
        created_at=float(d.get("created_at", 0.0)),
        updated_at=float(d.get("updated_at", 0.0)),
        turn_state=None if not ts else TurnState.from_dict(ts),
        turns_completed=int(d.get("turns_completed", 0)),
        usage=Usage.from_dict(d.get("usage")),
        cost_usd=float(d.get("cost_usd", 0.0)),
        cancel_requested=bool(d.get("cancel_requested", False)),
        parent_id=d.get("parent_id"),
        config=SessionConfig.from_dict(d.get("config") or {}),
        result=d.get("result", ""),
        error=d.get("error", ""),
        version=int(d.get("version", 0)),
    )


def tool_record_to_dict(r: ToolRecord) -> dict[str, Any]:
    return {
        "session_id": r.session_id,
        "tool_use_id": r.tool_use_id,
        "name": r.name,
        "input": r.input,
        "turn": r.turn,
        "status": r.status,
        "decision": r.decision,
        "result": r.result,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
    }


def tool_record_from_dict(d: dict[str, Any]) -> ToolRecord:
    return ToolRecord(
        session_id=d["session_id"],
        tool_use_id=d["tool_use_id"],
        name=d["name"],
        input=dict(d.get("input") or {}),
        turn=int(d.get("turn", 0)),
        status=d.get("status", "requested"),
        decision=dict(d.get("decision") or {}),
        result=d.get("result"),
        created_at=float(d.get("created_at", 0.0)),
        updated_at=float(d.get("updated_at", 0.0)),
    )


def approval_to_dict(a: Approval) -> dict[str, Any]:
    return {
        "id": a.id,
        "session_id": a.session_id,
        "tool_use_id": a.tool_use_id,
        "tool_name": a.tool_name,
        "input": a.input,
        "reason": a.reason,
        "rule": a.rule,
        "source": a.source,
        "kind": a.kind,
        "status": a.status,
        "scope": a.scope,
        "decided_by": a.decided_by,
        "message": a.message,
        "created_at": a.created_at,
        "decided_at": a.decided_at,
        "task_token": a.task_token,
        "suggestions": list(a.suggestions),
    }


def approval_from_dict(d: dict[str, Any]) -> Approval:
    return Approval(
        id=d["id"],
        session_id=d["session_id"],
        tool_use_id=d.get("tool_use_id", ""),
        tool_name=d.get("tool_name", ""),
        input=dict(d.get("input") or {}),
        reason=d.get("reason", ""),
        rule=d.get("rule"),
        source=d.get("source"),
        kind=d.get("kind", "tool"),
        status=d.get("status", "pending"),
        scope=d.get("scope", "once"),
        decided_by=d.get("decided_by"),
        message=d.get("message", ""),
        created_at=float(d.get("created_at", 0.0)),
        decided_at=d.get("decided_at"),
        task_token=d.get("task_token"),
        suggestions=list(d.get("suggestions") or []),
    )
