"""Tool-call approvals and staged-output review. Any client may decide; exactly one decision wins."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from dexa.api.deps import ApiContext, Approver, Ctx, OutputReviewer, Reader, problems
from dexa.api.schemas.approvals import (
    ApprovalDecision,
    ApprovalPublic,
    ApprovalsPublic,
    OutputApprove,
    OutputPublic,
    OutputReject,
    OutputsPublic,
)
from dexa.api.schemas.common import ID_PATTERN
from dexa.api.session_turns import kick
from dexa.core.errors import ConflictError

router = APIRouter(prefix="/sessions", tags=["approvals"])

OutputId = Annotated[str, Path(pattern=ID_PATTERN)]


@router.get("/{session_id}/approvals", response_model=ApprovalsPublic, responses=problems(404))
async def list_approvals(
    session_id: str,
    ctx: Ctx,
    who: Reader,
    status: Annotated[Literal["pending", "allowed", "denied"] | None, Query()] = None,
) -> ApprovalsPublic:
    await ctx.session(who, session_id)
    rows = await ctx.runtime.store.list_approvals(session_id, status=status)
    return ApprovalsPublic(data=[ApprovalPublic.of(a) for a in rows], count=len(rows))


@router.post("/{session_id}/approve", response_model=ApprovalPublic, responses=problems(404, 409))
async def approve(session_id: str, body: ApprovalDecision, ctx: Ctx, who: Approver) -> ApprovalPublic:
    """Answer a permission request: once, always (for this session) or deny. Losers of a race get 409
    `already_decided`; the turn resumes in whichever process drives it."""
    await ctx.session(who, session_id)
    allow = body.decision != "deny"
    decided, won = await ctx.call(
        ctx.runtime.engine.resolve_approval,
        session_id,
        body.approval_id,
        allow=allow,
        scope="always" if body.decision == "always" else "once",
        by=who.user_id,
        message=body.message,
        updated_input=body.updated_input,
    )
    if not won:
        raise ConflictError(
            f"approval {body.approval_id} was already decided ({decided.status} by "
            f"{decided.decided_by or 'someone else'})",
            code="already_decided",
        )
    await ctx.audit.append(
        who,
        "approval.decide",
        session_id,
        {
            "approval_id": body.approval_id,
            "tool": decided.tool_name,
            "decision": body.decision,
            "message": body.message,
            "edited_input": body.updated_input is not None,
        },
    )
    # After a restart no driver is parked on this session; starting one is a no-op if it is.
    await ctx.call(_start, ctx, session_id)
    return ApprovalPublic.of(decided)


async def _start(ctx: ApiContext, session_id: str) -> None:
    kick(ctx, session_id, was_running=False)


@router.get("/{session_id}/pending-outputs", response_model=OutputsPublic, responses=problems(404))
async def list_outputs(
    session_id: str,
    ctx: Ctx,
    who: Reader,
    status: Annotated[Literal["pending", "approved", "rejected", "executed", "failed"] | None, Query()] = None,
) -> OutputsPublic:
    """Staged outputs (drafts, invites, CRM updates...) of this session; all of them unless `status` is given."""
    await ctx.session(who, session_id)
    rows = [o for o in await ctx.outputs.list(who.org_id, session_id) if status is None or o.status == status]
    return OutputsPublic(data=[OutputPublic.of(o) for o in rows], count=len(rows))


@router.post(
    "/{session_id}/pending-outputs/{output_id}/approve", response_model=OutputPublic, responses=problems(404, 409)
)
async def approve_output(
    session_id: str, output_id: OutputId, body: OutputApprove, ctx: Ctx, who: OutputReviewer
) -> OutputPublic:
    """Approve (optionally with edited arguments); the control plane executes the pinned call exactly once."""
    await ctx.session(who, session_id)
    out = await ctx.outputs.approve(who.org_id, session_id, output_id, by=who.user_id, arguments=body.arguments)
    await ctx.audit.append(
        who,
        "output.approve",
        session_id,
        {
            "output_id": output_id,
            "kind": out.kind,
            "edited": out.edited,
            "status": out.status,
            # Whose integration grant executed it ("org" / "user:<id>"); the reviewer is the audit entry's actor.
            "grant_owner": out.context.get("grant_owner", ""),
            "requested_by": out.context.get("requested_by", ""),
        },
    )
    return OutputPublic.of(out)


@router.post(
    "/{session_id}/pending-outputs/{output_id}/reject", response_model=OutputPublic, responses=problems(404, 409)
)
async def reject_output(
    session_id: str, output_id: OutputId, body: OutputReject, ctx: Ctx, who: OutputReviewer
) -> OutputPublic:
    await ctx.session(who, session_id)
    out = await ctx.outputs.reject(who.org_id, session_id, output_id, by=who.user_id, reason=body.reason)
    await ctx.audit.append(who, "output.reject", session_id, {"output_id": output_id, "reason": body.reason})
    return OutputPublic.of(out)
