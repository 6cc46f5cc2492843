"""Sessions: create (optionally starting a turn), list and read. What is done to one session (messages, abort,
mode, fork, tools, todo, artifacts) is dexa.api.routers.session_actions: GET /sessions, a cold API's most common
first request, builds only these three routes."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Query

from dexa.api.deps import ApiContext, Ctx, Reader, Writer, problems
from dexa.api.schemas.sessions import SessionCreate, SessionPublic, SessionsPublic
from dexa.api.session_policy import check_session_request
from dexa.api.session_turns import public, public_page, submit
from dexa.auth.models import Principal

router = APIRouter(prefix="/sessions", tags=["sessions"])


async def _resolve_cwd(ctx: ApiContext, who: Principal, cwd: str | None) -> str:
    """An existing directory inside the caller's org's workspace roots; a hostile path is a 400/403 naming `cwd`
    rather than an OSError, and never another org's (or the host's) directory."""
    path = await anyio.to_thread.run_sync(lambda: ctx.paths.resolve(who.org_id, cwd))
    return str(path)


@router.post("", status_code=201, response_model=SessionPublic, responses=problems(400, 403))
async def create_session(body: SessionCreate, ctx: Ctx, who: Writer) -> SessionPublic:
    """Create a session in the caller's org's workspace (`cwd` is relative to it); with `prompt`, its first turn
    starts at once (follow it on /events)."""
    await check_session_request(ctx, who, body)
    session = await ctx.call(
        ctx.runtime.create_session,
        cwd=await _resolve_cwd(ctx, who, body.cwd),
        model=body.model,
        org_id=who.org_id,
        user_id=who.user_id,
        permission_mode=body.permission_mode,
        config=body.to_config(),
        title=body.title or (body.prompt or "")[:80],
    )
    if body.prompt:
        await submit(ctx, session.id, body.prompt)
        session = await ctx.runtime.store.get_session(session.id)
    return await public(ctx, session)


@router.get("", response_model=SessionsPublic, responses=problems())
async def list_sessions(
    ctx: Ctx,
    who: Reader,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cwd: Annotated[str | None, Query(min_length=1, max_length=4096)] = None,
) -> SessionsPublic:
    """The caller's org's sessions, most recently updated first."""
    rows = await ctx.runtime.store.list_sessions(org_id=who.org_id, limit=limit, cwd=cwd)
    data = await public_page(ctx, rows)
    return SessionsPublic(data=data, count=len(data))


@router.get("/{session_id}", response_model=SessionPublic, responses=problems(404))
async def get_session(session_id: str, ctx: Ctx, who: Reader) -> SessionPublic:
    return await public(ctx, await ctx.session(who, session_id))
