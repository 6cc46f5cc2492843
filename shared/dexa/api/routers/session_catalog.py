"""What one session can call on: its subagents, its slash commands (built-in and custom) and its skills, as loaded
from the session's working directory and the org's home (the same sources GET /agents and /skills read)."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter

from dexa.api.deps import Ctx, Reader, problems
from dexa.api.schemas.config import AgentPublic, AgentsPublic, SkillPublic, SkillsPublic
from dexa.commands.builtins import BUILTIN_COMMANDS

router = APIRouter(prefix="/sessions", tags=["sessions"])


def _extensions(cwd: str, home: str) -> Any:
    from dexa.agents.extensions import load_extensions

    return load_extensions(cwd, home=home)


def _agents(cwd: str, home: str) -> AgentsPublic:
    rows = [
        AgentPublic(
            name=a.name,
            description=a.description,
            source=str(a.source),
            path=a.path,
            model=a.model,
            tools=None if a.tools is None else list(a.tools),
        )
        for a in _extensions(cwd, home).agents.all()
    ]
    return AgentsPublic(data=rows, count=len(rows))


def _skills(cwd: str, home: str, *, commands: bool) -> SkillsPublic:
    rows = [
        SkillPublic(
            name=s.name,
            description=s.description,
            kind=str(s.kind),
            source=str(s.source),
            path=s.path,
            argument_hint=s.argument_hint,
        )
        for s in _extensions(cwd, home).commands.all()
        if (str(s.kind) == "command") == commands
    ]
    if commands:
        custom = {r.name for r in rows}
        builtins = [
            SkillPublic(name=name, description=text, kind="builtin", source="builtin", path="")
            for name, text in BUILTIN_COMMANDS.items()
            if name not in custom
        ]
        rows = builtins + rows
    return SkillsPublic(data=rows, count=len(rows))


@router.get("/{session_id}/agents", response_model=AgentsPublic, responses=problems(404, 501))
async def session_agents(session_id: str, ctx: Ctx, who: Reader) -> AgentsPublic:
    """The subagents this session's Task tool can start (built-in, user, project, plugin), by name."""
    session = await ctx.session(who, session_id)
    return await anyio.to_thread.run_sync(_agents, session.cwd, ctx.home(who))


@router.get("/{session_id}/commands", response_model=SkillsPublic, responses=problems(404, 501))
async def session_commands(session_id: str, ctx: Ctx, who: Reader) -> SkillsPublic:
    """Slash commands: the built-in ones a client runs itself (kind `builtin`), then the custom ones
    (`.claude/commands`, plugins) that POST /sessions/{id}/commands expands."""
    session = await ctx.session(who, session_id)
    home = ctx.home(who)
    return await anyio.to_thread.run_sync(lambda: _skills(session.cwd, home, commands=True))


@router.get("/{session_id}/skills", response_model=SkillsPublic, responses=problems(404, 501))
async def session_skills(session_id: str, ctx: Ctx, who: Reader) -> SkillsPublic:
    """Skills (`.claude/skills`, plugins, user) the session's agent can load, with where each comes from."""
    session = await ctx.session(who, session_id)
    home = ctx.home(who)
    return await anyio.to_thread.run_sync(lambda: _skills(session.cwd, home, commands=False))
