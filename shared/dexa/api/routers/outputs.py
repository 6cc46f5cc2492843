"""The org-wide review queue and signed approval links (Slack / email reviewers land on the web UI with one).

A link's token travels in the body, never the path, so it stays out of access logs. Its org must be the
caller's: another org's link answers 404 like any other org's resource.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from dexa.api.deps import ApiContext, Ctx, OutputReviewer, Reader, problems
from dexa.api.ports import LinkClaims, PendingOutput, SignedLinks
from dexa.api.problems import not_implemented
from dexa.api.schemas.approvals import ApprovalPublic, OutputPublic, OutputsPublic
from dexa.api.schemas.config import LinkPeek, LinkPublic, LinkRedeem
from dexa.api.session_turns import kick
from dexa.auth.models import Principal
from dexa.core.errors import ConflictError, NotFoundError, PermissionDeniedError
from dexa.core.session import Approval

router = APIRouter(tags=["approvals"])


@router.get("/outputs", response_model=OutputsPublic, responses=problems())
async def list_org_outputs(
    ctx: Ctx,
    who: Reader,
    status: Annotated[Literal["pending", "approved", "rejected", "executed", "failed"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> OutputsPublic:
    """Staged outputs across every session of the org, oldest first (the review queue)."""
    rows = [o for o in await ctx.outputs.list_org(who.org_id) if status is None or o.status == status][:limit]
    return OutputsPublic(data=[OutputPublic.of(o) for o in rows], count=len(rows))


def _links(ctx: ApiContext) -> SignedLinks:
    if ctx.links is None:
        raise not_implemented("approval links")
    return ctx.links


async def _find(ctx: ApiContext, org_id: str, output_id: str) -> PendingOutput:
    for o in await ctx.outputs.list_org(org_id):
        if o.id == output_id:
            return o
    raise NotFoundError(f"no output {output_id}")


async def _claims(ctx: ApiContext, who: Principal, token: str) -> tuple[LinkClaims, PendingOutput | None]:
    """The link's claims and the output it names (None for a tool-approval link: see `_approval`)."""
    claims = _links(ctx).peek(token)
    if claims.org_id != who.org_id:
        raise NotFoundError("no such approval link in this org")
    if getattr(claims, "kind", "output") == "tool":
        return claims, None
    return claims, await _find(ctx, who.org_id, claims.output_id)


async def _approval(ctx: ApiContext, who: Principal, claims: LinkClaims) -> Approval:
    """The waiting tool call a tool-approval link names, inside the caller's org."""
    session_id = str(getattr(claims, "session_id", ""))
    await ctx.session(who, session_id)  # another org's session answers 404
    approval = await ctx.runtime.store.get_approval(session_id, claims.output_id)
    if approval is None:
        raise NotFoundError(f"no approval {claims.output_id}")
    return approval


async def _resume(ctx: ApiContext, session_id: str) -> None:
    kick(ctx, session_id, was_running=False)  # the parked turn resumes wherever it is driven


async def _redeem_tool(ctx: ApiContext, who: Principal, token: str, claims: LinkClaims, reason: str) -> LinkPublic:
    if not who.can("approvals:write"):
        raise PermissionDeniedError(f"this key (role {who.role}) lacks the 'approvals:write' scope", code="forbidden")
    approval = await _approval(ctx, who, claims)
    if approval.status != "pending":
        raise ConflictError(f"approval {approval.id} was already {approval.status}", code="already_decided")

    async def decide(link: Any, by: str) -> dict[str, Any]:
        decided, won = await ctx.call(
            ctx.runtime.engine.resolve_approval,
            approval.session_id,
            approval.id,
            allow=link.action == "approve",
            by=by,
            message=reason,
        )
        if not won:
            raise ConflictError(f"approval {approval.id} was already {decided.status}", code="already_decided")
        await ctx.call(_resume, ctx, approval.session_id)
        return {"status": decided.status}

    await _links(ctx).redeem(token, None, by=who.user_id, reason=reason, decide_tool=decide)  # type: ignore[arg-type]
    done = await _approval(ctx, who, claims)
    await ctx.audit.append(
        who, "approval.decide", done.session_id, {"approval_id": done.id, "via": "link", "decision": done.status}
    )
    return LinkPublic(action=claims.action, expires_at=claims.expires_at, approval=ApprovalPublic.of(done))  # type: ignore[arg-type]


class _Queue:
    """What the link acts through: the API's queue, keyed by output id, deciding as the signed-in reviewer."""

    def __init__(self, ctx: ApiContext, output: PendingOutput) -> None:
        self.ctx = ctx
        self.output = output

    async def approve(self, org_id: str, output_id: str, *, by: str) -> Any:
        return await self.ctx.outputs.approve(org_id, self.output.session_id, output_id, by=by)

    async def reject(self, org_id: str, output_id: str, *, by: str, reason: str = "") -> Any:
        return await self.ctx.outputs.reject(org_id, self.output.session_id, output_id, by=by, reason=reason)


@router.post("/approval-links/peek", response_model=LinkPublic, responses=problems(404, 501))
async def peek_approval_link(body: LinkPeek, ctx: Ctx, who: Reader) -> LinkPublic:
    """What a link would do, and the output it names, without spending it (403 when tampered or expired)."""
    claims, output = await _claims(ctx, who, body.token)
    if output is None:
        approval = ApprovalPublic.of(await _approval(ctx, who, claims))
        return LinkPublic(action=claims.action, expires_at=claims.expires_at, approval=approval)  # type: ignore[arg-type]
    return LinkPublic(action=claims.action, expires_at=claims.expires_at, output=OutputPublic.of(output))  # type: ignore[arg-type]


@router.post("/approval-links/redeem", response_model=LinkPublic, responses=problems(404, 409, 501))
async def redeem_approval_link(body: LinkRedeem, ctx: Ctx, who: OutputReviewer) -> LinkPublic:
    """Spend the link once and perform its action as the signed-in reviewer (409 when used or decided)."""
    claims, output = await _claims(ctx, who, body.token)
    if output is None:
        return await _redeem_tool(ctx, who, body.token, claims, body.reason)
    if output.status != "pending":
        raise ConflictError(f"output {output.id} was already {output.status}", code="already_decided")
    await _links(ctx).redeem(body.token, _Queue(ctx, output), by=who.user_id, reason=body.reason)
    done = await ctx.outputs.get(who.org_id, output.session_id, output.id)
    await ctx.audit.append(
        who,
        f"output.{claims.action}",
        output.session_id,
        {"output_id": output.id, "via": "link", "status": done.status},
    )
    return LinkPublic(action=claims.action, expires_at=claims.expires_at, output=OutputPublic.of(done))  # type: ignore[arg-type]
