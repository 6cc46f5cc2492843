"""Checkpoints and rewind (delegated to the configured Rewinder; 501 when there is none), and the side-effect ledger."""

from __future__ import annotations

from fastapi import APIRouter

from dexa.api.deps import ApiContext, Ctx, Reader, Writer, problems
from dexa.api.ports import Rewinder
from dexa.api.problems import not_implemented
from dexa.api.schemas.config import SideEffectPublic, SideEffectsPublic
from dexa.api.schemas.session_actions import CheckpointPublic, CheckpointsPublic, RewindCreate, RewindPublic
from dexa.checkpoints.ledger import SideEffectLedger
from dexa.core.errors import ConflictError

router = APIRouter(prefix="/sessions", tags=["rewind"])


def _rewinder(ctx: ApiContext) -> Rewinder:
    if ctx.rewinder is None:
        raise not_implemented("rewind (checkpoints)")
    return ctx.rewinder


@router.get("/{session_id}/checkpoints", response_model=CheckpointsPublic, responses=problems(404, 501))
async def checkpoints(session_id: str, ctx: Ctx, who: Reader) -> CheckpointsPublic:
    await ctx.session(who, session_id)
    rows = await _rewinder(ctx).list_checkpoints(session_id)
    data = [CheckpointPublic.model_validate(r) for r in rows]
    return CheckpointsPublic(data=data, count=len(data))


@router.post("/{session_id}/rewind", response_model=RewindPublic, responses=problems(400, 404, 409, 501))
async def rewind(session_id: str, body: RewindCreate, ctx: Ctx, who: Writer) -> RewindPublic:
    """Rewind the conversation, the workspace files, or both, to a checkpoint. Not while a turn is in flight."""
    session = await ctx.session(who, session_id)
    rewinder = _rewinder(ctx)
    if session.turn_state is not None:
        raise ConflictError(
            f"session {session_id} has turn {session.turn_state.turn} in flight; abort it first", code="session_busy"
        )
    result = await rewinder.rewind(
        session_id, checkpoint_id=body.checkpoint_id, mode=body.mode, on_conflict=body.on_conflict
    )
    await ctx.audit.append(
        who,
        "session.rewind",
        session_id,
        {"checkpoint_id": body.checkpoint_id, "mode": body.mode, "on_conflict": body.on_conflict},
    )
    return RewindPublic(
        checkpoint_id=body.checkpoint_id, mode=body.mode, on_conflict=body.on_conflict, details=dict(result)
    )


@router.get("/{session_id}/side-effects", response_model=SideEffectsPublic, responses=problems(404))
async def side_effects(session_id: str, ctx: Ctx, who: Reader) -> SideEffectsPublic:
    """Actions a rewind cannot undo (emails sent, PRs opened...), oldest first, each with the checkpoint that was
    current when it happened and its compensating action, if any."""
    await ctx.session(who, session_id)
    rows = await SideEffectLedger(ctx.runtime.store).list(session_id)
    data = [SideEffectPublic.model_validate(e.to_dict()) for e in rows]
    return SideEffectsPublic(data=data, count=len(data))
