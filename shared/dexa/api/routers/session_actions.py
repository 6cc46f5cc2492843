"""What is done to one session: send a message, abort, change mode, fork, and read its tools, todo list and
artifacts. Apart from dexa.api.routers.sessions (create, list, read) so that GET /sessions does not build these."""

from __future__ import annotations

import logging
from dataclasses import replace

from fastapi import APIRouter
from pydantic import ValidationError

from dexa.api.artifacts import collect
from dexa.api.deps import Ctx, Reader, Writer, problems
from dexa.api.schemas.approvals import OutputPublic
from dexa.api.schemas.session_actions import (
    ArtifactsPublic,
    ForkCreate,
    MessageCreate,
    ModeChange,
    TodoItem,
    TodoPublic,
    ToolsPublic,
    TurnAccepted,
)
from dexa.api.schemas.sessions import SessionPublic
from dexa.api.session_turns import public, submit
from dexa.core.errors import ConfigError
from dexa.core.events import EventType

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/sessions", tags=["sessions"])


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
