"""Tool-call approvals (blocking) and staged outputs (non-blocking)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from dexa.api.ports import PendingOutput
from dexa.core.session import Approval

from .common import ID_PATTERN, Body


class ApprovalDecision(Body):
    approval_id: str = Field(pattern=ID_PATTERN)
    decision: Literal["once", "always", "deny"]
    message: str = Field(default="", max_length=10_000, description="Shown to the model with a denial")
    updated_input: dict[str, Any] | None = Field(default=None, description="Run the tool with this input instead")


class ApprovalPublic(BaseModel):
    id: str
    session_id: str
    tool_use_id: str
    tool_name: str
    input: dict[str, Any]
    reason: str
    rule: str | None
    source: str | None
    kind: str
    status: Literal["pending", "allowed", "denied"]
    scope: str
    decided_by: str | None
    message: str
    created_at: float
    decided_at: float | None
    suggestions: list[str]

    @staticmethod
    def of(a: Approval) -> ApprovalPublic:
        return ApprovalPublic(
            id=a.id,
            session_id=a.session_id,
            tool_use_id=a.tool_use_id,
            tool_name=a.tool_name,
            input=a.input,
            reason=a.reason,
            rule=a.rule,
            source=a.source,
            kind=a.kind,
            status=a.status,
            scope=a.scope,
            decided_by=a.decided_by,
            message=a.message,
            created_at=a.created_at,
            decided_at=a.decided_at,
            suggestions=list(a.suggestions),
        )


class ApprovalsPublic(BaseModel):
    data: list[ApprovalPublic]
    count: int


class OutputApprove(Body):
    arguments: dict[str, Any] | None = Field(default=None, description="Edited arguments to execute instead")


class OutputReject(Body):
    reason: str = Field(default="", max_length=10_000)


class OutputPublic(BaseModel):
    id: str
    session_id: str
    kind: str
    integration: str
    tool: str
    summary: str
    arguments: dict[str, Any]
    context: dict[str, Any]
    status: Literal["pending", "approved", "rejected", "executed", "failed"]
    created_at: float
    decided_by: str | None
    decided_at: float | None
    edited: bool
    result: dict[str, Any] | None
    error: str

    @staticmethod
    def of(o: PendingOutput) -> OutputPublic:
        return OutputPublic(
            id=o.id,
            session_id=o.session_id,
            kind=o.kind,
            integration=o.integration,
            tool=o.tool,
            summary=o.summary,
            arguments=o.arguments,
            context=o.context,
            status=o.status,
            created_at=o.created_at,
            decided_by=o.decided_by,
            decided_at=o.decided_at,
            edited=o.edited,
            result=o.result,
            error=o.error,
        )


class OutputsPublic(BaseModel):
    data: list[OutputPublic]
    count: int
