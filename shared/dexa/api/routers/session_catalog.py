"""What one session can call on: its subagents, its slash commands (built-in and custom) and its skills, as loaded
from the session's working directory and the org's home (the listings of GET /agents and /skills, in catalog)."""

from __future__ import annotations

import anyio
from fastapi import APIRouter

from dexa.api.deps import Ctx, Reader, problems
from dexa.api.routers import catalog
from dexa.api.schemas.config import AgentsPublic, SkillPublic, SkillsPublic
from dexa.commands.builtins import BUILTIN_COMMANDS

router = APIRouter(prefix="/sessions", tags=["sessions"])


def _commands(cwd: str, home: str) -> SkillsPublic:
    """The built-in commands a client runs itself, then the custom ones (a custom one hides its built-in)."""
    custom = catalog.skills(cwd, home, commands=True).data
    names = {r.name for r in custom}
    builtins = [
        SkillPublic(name=name, description=text, kind="builtin", source="builtin", path="")
        for name, text in BUILTIN_COMMANDS.items()
        if name not in names
    ]
    rows = builtins + custom
    return SkillsPublic(data=rows, count=len(rows))


@router.get("/{session_id}/agents", response_model=AgentsPublic, responses=problems(404, 501))
async def session_agents(session_id: str, ctx: Ctx, who: Reader) -> AgentsPublic:
    """The subagents this session's Task tool can start (built-in, user, project, plugin), by name."""
    session = await ctx.session(who, session_id)
    return await anyio.to_thread.run_sync(catalog.agents, session.cwd, ctx.home(who))


@router.get("/{session_id}/commands", response_model=SkillsPublic, responses=problems(404, 501))
async def session_commands(session_id: str, ctx: Ctx, who: Reader) -> SkillsPublic:
    """Slash commands: the built-in ones a client runs itself (kind `builtin`), then the custom ones
    (`.claude/commands`, plugins) that POST /sessions/{id}/commands expands."""
    session = await ctx.session(who, session_id)
    home = ctx.home(who)
    return await anyio.to_thread.run_sync(_commands, session.cwd, home)


@router.get("/{session_id}/skills", response_model=SkillsPublic, responses=problems(404, 501))
async def session_skills(session_id: str, ctx: Ctx, who: Reader) -> SkillsPublic:
    """Skills (`.claude/skills`, plugins, user) the session's agent can load, with where each comes from."""
    session = await ctx.session(who, session_id)
    home = ctx.home(who)
    return await anyio.to_thread.run_sync(lambda: catalog.skills(session.cwd, home, commands=False))
