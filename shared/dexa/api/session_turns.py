"""What several routers do with a session: its public view, and a prompt submitted as the next turn with the driver
(re)started. Kept out of the routers so that importing one router never builds another's routes."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from dexa.checkpoints.repository import session_store_bytes, sessions_store_bytes
from dexa.core.errors import ConflictError
from dexa.core.session import Session

from .deps import ApiContext
from .schemas.sessions import SessionPublic


async def public(ctx: ApiContext, s: Session) -> SessionPublic:
    return SessionPublic.of(
        s,
        running=ctx.runtime.driver.is_running(s.id),
        last_seq=await ctx.runtime.store.last_seq(s.id),
        checkpoint_bytes=await session_store_bytes(ctx.runtime.store, s.id),
    )


async def public_page(ctx: ApiContext, sessions: Sequence[Session]) -> list[SessionPublic]:
    """public() of each listed session, with what it reads from the store read for the whole page at once (a few
    requests per page on DynamoDB rather than two per session, one after the other)."""
    if not sessions:
        return []
    store, ids = ctx.runtime.store, [s.id for s in sessions]
    seqs, sizes = await asyncio.gather(store.last_seqs(ids), sessions_store_bytes(store, ids))
    running = ctx.runtime.driver.is_running
    return [
        SessionPublic.of(s, running=running(s.id), last_seq=seqs[s.id], checkpoint_bytes=sizes[s.id]) for s in sessions
    ]


def kick(ctx: ApiContext, session_id: str, *, was_running: bool) -> None:
    """Start the driver (call on the engine's loop). A driver that was already running may be finishing the
    previous turn and exit without seeing the new one, so when it ends, start again (a no-op when nothing is
    pending)."""
    driver = ctx.runtime.driver
    task = driver.start(session_id)
    if was_running and isinstance(task, asyncio.Future):
        task.add_done_callback(lambda _t: driver.start(session_id))  # pyright: ignore[reportUnknownLambdaType]


async def _submit_and_start(ctx: ApiContext, session_id: str, prompt: str) -> int:
    was_running = ctx.runtime.driver.is_running(session_id)
    try:
        state = await ctx.runtime.engine.submit(session_id, prompt)
    except ConflictError as exc:
        raise ConflictError(str(exc), code="session_busy") from exc
    kick(ctx, session_id, was_running=was_running)
    return state.turn


async def submit(ctx: ApiContext, session_id: str, prompt: str) -> int:
    async with ctx.lock(session_id):
        return await ctx.call(_submit_and_start, ctx, session_id, prompt)
