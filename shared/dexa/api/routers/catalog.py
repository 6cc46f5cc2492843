"""Read-only listings of what a session started in a workspace would load: agents, skills, plugins, marketplaces."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query

from dexa.api import workspace as ws
from dexa.api.deps import Ctx, Reader, problems
from dexa.api.schemas.config import (
    AgentPublic,
    AgentsPublic,
    MarketplacePublic,
    MarketplacesPublic,
    PluginPublic,
    PluginsPublic,
    SkillPublic,
    SkillsPublic,
)

router = APIRouter(tags=["extensions"])

CwdQuery = Annotated[str | None, Query(min_length=1, max_length=4096, description="Workspace; default: the server's")]


def extensions(cwd: str, home: str) -> Any:
    from dexa.agents.extensions import load_extensions

    return load_extensions(cwd, home=home)


def agents(cwd: str, home: str) -> AgentsPublic:
    """The subagents a session in `cwd` can start (also GET /sessions/{id}/agents, in session_catalog)."""
    rows = [
        AgentPublic(
            name=a.name,
            description=a.description,
            source=str(a.source),
            path=a.path,
            model=a.model,
            tools=None if a.tools is None else list(a.tools),
        )
        for a in extensions(cwd, home).agents.all()
    ]
    return AgentsPublic(data=rows, count=len(rows))


def skills(cwd: str, home: str, *, commands: bool | None = None) -> SkillsPublic:
    """Skills and slash commands by name: only the commands (True), only the rest (False), or all (None)."""
    rows = [
        SkillPublic(
            name=s.name,
            description=s.description,
            kind=str(s.kind),
            source=str(s.source),
            path=s.path,
            argument_hint=s.argument_hint,
        )
        for s in extensions(cwd, home).commands.all()
        if commands is None or (str(s.kind) == "command") == commands
    ]
    return SkillsPublic(data=rows, count=len(rows))


def _plugins(cwd: str, home: str) -> PluginsPublic:
    rows = [
        PluginPublic(
            name=p.manifest.name,
            ref=str(p.ref),
            version=p.manifest.version,
            description=p.manifest.description,
            runs_code=p.runs_code,
        )
        for p in extensions(cwd, home).plugins
    ]
    return PluginsPublic(data=rows, count=len(rows))


def _marketplaces(cwd: str, home: str) -> MarketplacesPublic:
    from dexa.plugins.state import extra_known_marketplaces
    from dexa.plugins.store import PluginStore

    known: dict[str, Any] = PluginStore(Path(home), cwd=Path(cwd)).known()
    rows = [
        MarketplacePublic(
            name=str(name),
            source=dict(info.get("source") or {}) if isinstance(info, dict) else {},
            install_location=str(info.get("installLocation", "")) if isinstance(info, dict) else "",
            known=True,
        )
        for name, info in sorted(known.items())
    ]
    for name, info in sorted(extra_known_marketplaces(home=Path(home), cwd=Path(cwd)).items()):
        if name not in known:
            source = info.get("source") if isinstance(info, dict) else None
            rows.append(
                MarketplacePublic(
                    name=name, source=dict(source) if isinstance(source, dict) else {}, install_location="", known=False
                )
            )
    return MarketplacesPublic(data=rows, count=len(rows))


@router.get("/agents", response_model=AgentsPublic, responses=problems(404, 501))
async def list_agents(ctx: Ctx, who: Reader, cwd: CwdQuery = None) -> AgentsPublic:
    """Subagents (built-in, user, project, plugin), highest priority definition of each name."""
    home = ctx.home(who)
    return await anyio.to_thread.run_sync(agents, await ws.workspace(ctx, who, cwd), home)


@router.get("/skills", response_model=SkillsPublic, responses=problems(404, 501))
async def list_skills(ctx: Ctx, who: Reader, cwd: CwdQuery = None) -> SkillsPublic:
    """Skills and slash commands by name."""
    home = ctx.home(who)
    return await anyio.to_thread.run_sync(skills, await ws.workspace(ctx, who, cwd), home)


@router.get("/plugins", response_model=PluginsPublic, responses=problems(404, 501))
async def list_plugins(ctx: Ctx, who: Reader, cwd: CwdQuery = None) -> PluginsPublic:
    """Enabled plugins and what in each runs code."""
    home = ctx.home(who)
    return await anyio.to_thread.run_sync(_plugins, await ws.workspace(ctx, who, cwd), home)


@router.get("/marketplaces", response_model=MarketplacesPublic, responses=problems(404, 501))
async def list_marketplaces(ctx: Ctx, who: Reader, cwd: CwdQuery = None) -> MarketplacesPublic:
    """Marketplaces added to this home, then ones the settings suggest (extraKnownMarketplaces)."""
    home = ctx.home(who)
    return await anyio.to_thread.run_sync(_marketplaces, await ws.workspace(ctx, who, cwd), home)
