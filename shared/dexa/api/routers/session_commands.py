"""What an interactive client (the `dexa chat` REPL) asks of a session besides prompts: run a custom slash command,
compact the history, switch the model, and show the MCP servers' status.

Custom commands expand on the server because their bodies run `!`cmd`` in the session's workspace and inline
`@files` from it; built-in commands (/help, /cost ...) are the client's, so they are refused here by name.
"""

from __future__ import annotations

from dataclasses import replace

from fastapi import APIRouter

from dexa.api.deps import Ctx, Reader, Writer, problems
from dexa.api.schemas.session_actions import TurnAccepted
from dexa.api.schemas.session_commands import (
    CommandCreate,
    CompactPublic,
    McpServerPublic,
    McpServersPublic,
    ModelChange,
)
from dexa.api.schemas.sessions import SessionPublic
from dexa.api.session_policy import check_session_request
from dexa.api.session_turns import public, submit
from dexa.commands.builtins import BUILTIN_COMMANDS
from dexa.commands.expand import parse_slash
from dexa.core.errors import ConfigError, ConflictError
from dexa.runtime.prompts import prepare_prompt

router = APIRouter(prefix="/sessions", tags=["sessions"])
MCP_TIMEOUT_S = 10.0


def _busy(ctx: Ctx, session_id: str, turn: object) -> bool:
    return turn is not None or ctx.runtime.driver.is_running(session_id)


@router.post("/{session_id}/commands", status_code=202, response_model=TurnAccepted, responses=problems(404, 409))
async def run_command(session_id: str, body: CommandCreate, ctx: Ctx, who: Writer) -> TurnAccepted:
    """Expand `/name args` (a `.claude/commands` file, a plugin command or a skill) and start it as the next turn.
    400 names an unknown command, or a built-in one, which the client handles itself."""
    session = await ctx.session(who, session_id)
    parsed = parse_slash(body.command)
    if parsed is None:
        raise ConfigError("command: must be `/name args` (send prompts to /messages)", code="not_a_command")
    if parsed[0] in BUILTIN_COMMANDS:
        raise ConfigError(f"/{parsed[0]} is a built-in command: the client runs it", code="builtin_command")
    env = await ctx.call(ctx.runtime.engine.envs.env_for, session)
    prepared = await ctx.call(prepare_prompt, body.command, session, env)
    cmd = prepared.command
    if prepared.text is None or prepared.text.strip() == body.command.strip():  # nothing expanded it
        unknown = f"Unknown slash command: {body.command.split()[0]}"
        raise ConfigError(cmd.message if cmd is not None and cmd.message else unknown, code="unknown_command")
    turn = await submit(ctx, session_id, prepared.text)
    return TurnAccepted(session=await public(ctx, await ctx.session(who, session_id)), turn=turn)


@router.post("/{session_id}/compact", response_model=CompactPublic, responses=problems(404, 409))
async def compact(session_id: str, ctx: Ctx, who: Writer) -> CompactPublic:
    """Summarise older history with the session's model, keeping the last prompts verbatim (Claude Code's
    /compact). 409 while a turn is in flight."""
    session = await ctx.session(who, session_id)
    if _busy(ctx, session_id, session.turn_state):
        raise ConflictError("a turn is in flight: compact once it is over", code="session_busy")
    before = [m.id for m in await ctx.runtime.store.list_messages(session_id)]
    env = await ctx.call(ctx.runtime.engine.envs.env_for, session)
    after = await ctx.call(ctx.runtime.engine.compact, session, env, trigger="manual")
    if [m.id for m in after] == before:  # too little history: the engine left it as it was
        return CompactPublic(compacted=False, summarized_messages=0, kept_messages=len(after), messages=len(after))
    kept = sum(1 for m in after if "~" in m.id)  # kept messages come back as `<id>~c<n>` copies
    return CompactPublic(
        compacted=True, summarized_messages=len(before) - kept, kept_messages=kept, messages=len(after)
    )


@router.post("/{session_id}/model", response_model=SessionPublic, responses=problems(404))
async def set_model(session_id: str, body: ModelChange, ctx: Ctx, who: Writer) -> SessionPublic:
    """Use another model from the next model call on (Claude Code's /model)."""
    await check_session_request(ctx, who, body)
    session = await ctx.session(who, session_id)
    updated = await ctx.runtime.store.update_session(replace(session, model=body.model))
    switch = getattr(ctx.runtime.engine.envs, "switch_model", None)
    if switch is not None:
        await ctx.call(switch, updated)
    await ctx.audit.append(who, "session.model", session_id, {"from": session.model, "to": body.model})
    return await public(ctx, updated)


@router.get("/{session_id}/mcp", response_model=McpServersPublic, responses=problems(404))
async def mcp_servers(session_id: str, ctx: Ctx, who: Reader) -> McpServersPublic:
    """The session's MCP servers, each started if it was not yet (10 s each), with its tools or why it failed."""
    session = await ctx.session(who, session_id)
    env = await ctx.call(ctx.runtime.engine.envs.env_for, session)
    manager = env.services.get("mcp")
    if manager is None:
        return McpServersPublic(data=[], count=0)
    described = await ctx.call(manager.describe_sources, connect=True, timeout_s=MCP_TIMEOUT_S)
    rows = [
        McpServerPublic(
            name=str(d["name"]),
            status=str(d["status"]),
            source=str(d.get("scope") or ""),
            tools=[str(t) for t in d.get("tools") or []],
            error=str(d.get("error") or ""),
        )
        for d in described
    ]
    return McpServersPublic(data=rows, count=len(rows))
