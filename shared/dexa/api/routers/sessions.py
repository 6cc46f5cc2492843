"""Sessions: create (optionally starting a turn), list, read, send messages, abort, mode, fork, tools, todo."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Annotated

import anyio
from fastapi import APIRouter, Query
from pydantic import ValidationError

from dexa.api.artifacts import collect
from dexa.api.deps import ApiContext, Ctx, Reader, Writer, problems
from dexa.api.schemas.approvals import OutputPublic
from dexa.api.schemas.sessions import (
    ArtifactsPublic,
    ForkCreate,
    MessageCreate,
    ModeChange,
    SessionCreate,
    SessionPublic,
    SessionsPublic,
    TodoItem,
    TodoPublic,
    ToolsPublic,
    TurnAccepted,
)
from dexa.api.session_policy import check_session_request
from dexa.auth.models import Principal
from dexa.checkpoints.repository import session_store_bytes
from dexa.core.errors import ConfigError, ConflictError
from dexa.core.events import EventType
from dexa.core.session import Session

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/sessions", tags=["sessions"])


async def public(ctx: ApiContext, s: Session) -> SessionPublic:
    return SessionPublic.of(
        s,
        running=ctx.runtime.driver.is_running(s.id),
        last_seq=await ctx.runtime.store.last_seq(s.id),
        checkpoint_bytes=await session_store_bytes(ctx.runtime.store, s.id),
    )


async def _resolve_cwd(ctx: ApiContext, who: Principal, cwd: str | None) -> str:
    """An existing directory inside the caller's org's workspace roots; a hostile path is a 400/403 naming `cwd`
    rather than an OSError, and never another org's (or the host's) directory."""
    path = await anyio.to_thread.run_sync(lambda: ctx.paths.resolve(who.org_id, cwd))
    return str(path)


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
    data = [await public(ctx, s) for s in rows]
    return SessionsPublic(data=data, count=len(data))


@router.get("/{session_id}", response_model=SessionPublic, responses=problems(404))
async def get_session(session_id: str, ctx: Ctx, who: Reader) -> SessionPublic:
    return await public(ctx, await ctx.session(who, session_id))


@router.post("/{session_id}/messages", status_code=202, response_model=TurnAccepted, responses=problems(404, 409))
async def send_message(session_id: str, body: MessageCreate, ctx: Ctx, who: Writer) -> TurnAccepted:
    """Queue a prompt as the next turn and start it. 409 `session_busy` while a turn is in flight."""
    await ctx.session(who, session_id)
    turn = await submit(ctx, session_id, body.prompt)
    return TurnAccepted(session=await public(ctx, await ctx.session(who, session_id)), turn=turn)


@router.post("/{session_id}/abort", response_model=SessionPublic, responses=problems(404))
async def abort(session_id: str, ctx: Ctx, who: Writer) -> SessionPublic:
    """Cancel the turn in flight (idempotent). Running tools are interrupted; history stays valid."""
    session = await ctx.session(who, session_id)
    if session.turn_state is not None or ctx.runtime.driver.is_running(session_id):
        await ctx.call(ctx.runtime.driver.cancel, session_id)
        await ctx.audit.append(who, "session.abort", session_id)
    return await public(ctx, await ctx.session(who, session_id))


@router.post("/{session_id}/mode", response_model=SessionPublic, responses=problems(404))
async def set_mode(session_id: str, body: ModeChange, ctx: Ctx, who: Writer) -> SessionPublic:
    session = await ctx.session(who, session_id)
    updated = await ctx.call(ctx.runtime.engine.set_mode, session_id, body.mode)
    await ctx.audit.append(who, "session.mode", session_id, {"from": session.permission_mode, "to": body.mode})
    return await public(ctx, updated)


@router.post("/{session_id}/fork", status_code=201, response_model=SessionPublic, responses=problems(400, 404))
async def fork(session_id: str, body: ForkCreate, ctx: Ctx, who: Writer) -> SessionPublic:
    """A new session (parent_id = this one) holding a copy of the visible history, up to `message_id`."""
    parent = await ctx.session(who, session_id)
    store = ctx.runtime.store
    messages = await store.list_messages(session_id)
    if body.message_id is not None:
        ids = [m.id for m in messages]
        if body.message_id not in ids:
            raise ConfigError(f"message_id: {body.message_id} is not a visible message of session {session_id}")
        messages = messages[: ids.index(body.message_id) + 1]
    child = await ctx.call(
        ctx.runtime.create_session,
        cwd=parent.cwd,
        model=parent.model,
        org_id=who.org_id,
        user_id=who.user_id,
        permission_mode=parent.permission_mode,
        config=parent.config,
        parent_id=parent.id,
        title=body.title if body.title is not None else f"fork of {parent.title or parent.id}"[:200],
    )
    for m in messages:
        await store.put_message(child.id, m)
    # The turn counter continues past the parent's (even a turn in flight) so message ids (t<turn>...) never
    # collide with the copied ones.
    done = parent.turn_state.turn if parent.turn_state is not None else parent.turns_completed
    child = await store.update_session(replace(await store.get_session(child.id), turns_completed=done))
    await ctx.call(
        ctx.runtime.engine.emit, session_id, EventType.SESSION_FORKED, {"child_id": child.id, "messages": len(messages)}
    )
    return await public(ctx, child)


@router.get("/{session_id}/tools", response_model=ToolsPublic, responses=problems(404))
async def tools(session_id: str, ctx: Ctx, who: Reader) -> ToolsPublic:
    """The tool names this session's agent sees (built-ins after --tools/--disallowedTools, MCP tools)."""
    session = await ctx.session(who, session_id)
    env = await ctx.call(ctx.runtime.engine.envs.env_for, session)
    return ToolsPublic(tools=env.tools.names())


@router.get("/{session_id}/todo", response_model=TodoPublic, responses=problems(404))
async def todo(session_id: str, ctx: Ctx, who: Reader) -> TodoPublic:
    await ctx.session(who, session_id)
    doc = await ctx.runtime.store.kv_get("tool_state", session_id) or {}
    items: list[TodoItem] = []
    for raw in doc.get("todos") or []:
        try:
            items.append(TodoItem.model_validate(raw))
        except ValidationError:  # a malformed item from a tool must not hide the others
            logger.warning("session %s: skipping malformed todo %r", session_id, raw)
    return TodoPublic(todos=items)


@router.get("/{session_id}/artifacts", response_model=ArtifactsPublic, responses=problems(404))
async def artifacts(session_id: str, ctx: Ctx, who: Reader) -> ArtifactsPublic:
    """File diffs and command logs from the event log, and the session's staged outputs."""
    await ctx.session(who, session_id)
    diffs, commands = await collect(ctx.runtime.store, session_id)
    outputs = await ctx.outputs.list(who.org_id, session_id)
    return ArtifactsPublic(diffs=diffs, commands=commands, outputs=[OutputPublic.of(o) for o in outputs])
