"""MCP server management for a session, the `claude mcp` way: one server's status, add, remove, and authenticate
(the OAuth sign-in that integrations already run for remote MCP servers). The list is GET /sessions/{id}/mcp.

Servers are kept in Claude Code's own files (dexa.adapters.mcp.scopes), with the org's home standing for `~`: local
scope in its `.claude.json` under the project, project scope in the working directory's `.mcp.json`, user scope at
the top of its `.claude.json`. A change is live at once when the session is idle (its environment is rebuilt);
otherwise it applies from the session's next environment.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from pathlib import Path
from typing import Any, cast

import anyio
from fastapi import APIRouter, Response

from dexa.adapters.mcp.scopes import SCOPES, McpScope, ScopeFiles, validate_entry
from dexa.api.deps import ApiContext, Ctx, Reader, Writer, problems
from dexa.api.ports import Integration
from dexa.api.problems import forbidden, not_implemented
from dexa.api.schemas.session_commands import McpServerPublic
from dexa.api.schemas.session_mcp import McpAuthCreate, McpAuthStarted, McpServerChange, McpServerCreate
from dexa.auth.models import Principal
from dexa.core.errors import ConfigError, ConflictError, NotFoundError
from dexa.core.session import Session

from .session_commands import MCP_TIMEOUT_S
from .terminal import OPEN_TERMINALS

router = APIRouter(prefix="/sessions", tags=["mcp"])
MCP_AUTH_LINKS = "mcp_auth_integrations"


def _files(ctx: ApiContext, who: Principal, session: Session) -> ScopeFiles:
    return ScopeFiles(project_dir=Path(session.cwd), home=Path(ctx.home(who)), env={})


def _check_scope(ctx: ApiContext, who: Principal, session: Session, scope: McpScope) -> None:
    if scope == "user" and (who.role != "admin" or not who.can("keys:write")):
        raise forbidden("user-scope MCP servers reach every session of the org: an admin key can add or remove them")
    if scope == "project":
        if ctx.paths.remote_root is not None:
            raise not_implemented("project-scope MCP servers for a remote workspace (use local scope)")
        if os.path.islink(os.path.join(session.cwd, ".mcp.json")):
            raise ConfigError(".mcp.json in the workspace is a symlink; refusing to read or replace it", code="symlink")


async def _describe(ctx: ApiContext, session: Session, *, connect: bool) -> list[dict[str, Any]]:
    env = await ctx.call(ctx.runtime.engine.envs.env_for, session)
    manager = env.services.get("mcp")
    if manager is None:
        return []
    return await ctx.call(manager.describe_sources, connect=connect, timeout_s=MCP_TIMEOUT_S)


def _public(d: dict[str, Any]) -> McpServerPublic:
    return McpServerPublic(
        name=str(d["name"]),
        status=str(d["status"]),
        source=str(d.get("scope") or ""),
        tools=[str(t) for t in d.get("tools") or []],
        error=str(d.get("error") or ""),
    )


async def _reload(ctx: ApiContext, session: Session) -> bool:
    """Rebuild an idle session's environment so a configuration change is live; never under a running turn, a
    background job or an open terminal (closing the environment would stop them)."""
    if session.turn_state is not None or ctx.runtime.driver.is_running(session.id):
        return False
    state = await ctx.runtime.store.kv_get("tool_state", session.id) or {}
    if state.get("background_jobs"):
        return False
    env = await ctx.call(ctx.runtime.engine.envs.env_for, session)
    if env.services.get(OPEN_TERMINALS):
        return False
    release = getattr(ctx.runtime.engine.envs, "release", None)
    if release is None:
        return False
    await ctx.call(release, session.id)
    return True


@router.get("/{session_id}/mcp/{name}", response_model=McpServerPublic, responses=problems(404))
async def mcp_server(session_id: str, name: str, ctx: Ctx, who: Reader) -> McpServerPublic:
    """One server's status, started if it was not yet (10 s): connected with its tools, or failed with the error
    (needs-auth: authenticate it with POST .../auth)."""
    session = await ctx.session(who, session_id)
    found = next((d for d in await _describe(ctx, session, connect=False) if d["name"] == name), None)
    if found is None:
        raise NotFoundError(f"session {session_id} has no MCP server {name[:80]!r}")
    rows = await _describe(ctx, session, connect=True)
    return _public(next((d for d in rows if d["name"] == name), found))


@router.post("/{session_id}/mcp", status_code=201, response_model=McpServerChange, responses=problems(404, 409, 501))
async def add_mcp_server(session_id: str, body: McpServerCreate, ctx: Ctx, who: Writer) -> McpServerChange:
    """Add a server to a scope (400 names a bad entry, 409 a name the scope already has). A stdio server runs in
    the session's workspace sandbox like every project server; an http/sse one from the control plane."""
    session = await ctx.session(who, session_id)
    _check_scope(ctx, who, session, body.scope)
    entry = validate_entry(body.config)
    files = _files(ctx, who, session)

    def put() -> None:
        if body.name in files.servers(body.scope):
            raise ConflictError(f"MCP server {body.name} already exists in {body.scope} config", code="already_exists")
        files.put(body.scope, body.name, entry)

    await anyio.to_thread.run_sync(put)
    await ctx.audit.append(who, "mcp.add", session_id, {"name": body.name, "scope": body.scope})
    reloaded = await _reload(ctx, session)
    server, detail = None, ""
    if reloaded:
        found = next((d for d in await _describe(ctx, session, connect=True) if d["name"] == body.name), None)
        server = None if found is None else _public(found)
        if found is None:
            detail = (
                "the session does not load it: an untrusted workspace holds its local and project servers until it "
                "is trusted (`dexa trust`, or org policy when hosted), a server of the same name in a higher scope "
                "wins, or org policy blocks it"
            )
    else:
        detail = (
            "a turn, background job or terminal is running: the server is loaded from the session's next environment"
        )
    return McpServerChange(
        name=body.name, scope=body.scope, file=files.where(body.scope), reloaded=reloaded, server=server, detail=detail
    )


@router.delete("/{session_id}/mcp/{name}", status_code=204, response_class=Response, responses=problems(404, 501))
async def remove_mcp_server(
    session_id: str, name: str, ctx: Ctx, who: Writer, scope: McpScope | None = None
) -> Response:
    """Remove a server from `scope`, or from the first scope holding it (local, project, user). 404 when no
    editable scope has it (org policy and integration servers are managed elsewhere)."""
    session = await ctx.session(who, session_id)
    files = _files(ctx, who, session)
    scopes: tuple[McpScope, ...] = (scope,) if scope is not None else SCOPES
    holder: McpScope | None = None
    for candidate in scopes:
        if name in await anyio.to_thread.run_sync(files.servers, candidate):
            holder = candidate
            break
    if holder is None:
        raise NotFoundError(f"no MCP server {name[:80]!r} in the session's {' or '.join(scopes)} config")
    _check_scope(ctx, who, session, holder)
    await anyio.to_thread.run_sync(files.remove, holder, name)
    await ctx.audit.append(who, "mcp.remove", session_id, {"name": name, "scope": holder})
    await _reload(ctx, session)
    return Response(status_code=204)


def _server_entry(files: ScopeFiles, name: str) -> dict[str, Any] | None:
    """The server's entry in the first scope holding it (local, project, user), as the session resolves them."""
    for scope in SCOPES:
        entry = files.servers(scope).get(name)
        if isinstance(entry, dict):
            return cast("dict[str, Any]", entry)
    return None


async def _integration_for(ctx: ApiContext, who: Principal, name: str, url: str) -> Integration:
    """The org's integration that holds grants for this server URL, made (as a custom MCP integration) on first
    sign-in. The URL -> integration link is kept in the Store: integration records need not expose their URL."""
    key = hashlib.sha256(url.encode()).hexdigest()[:32]
    integrations = await ctx.integrations.list(who.org_id)
    linked = await ctx.runtime.store.kv_get(MCP_AUTH_LINKS, key, org_id=who.org_id)
    found = next((i for i in integrations if linked is not None and i.id == linked.get("integration_id")), None)
    if found is None:
        label = re.sub(r"[^A-Za-z0-9_-]", "-", name)[:40] or "mcp"
        taken = {i.name for i in integrations}
        label = label if label not in taken else f"{label[:31]}-{secrets.token_hex(3)}"
        found = await ctx.integrations.create(
            who.org_id, kind="custom_mcp", name=label, config={"url": url}, by=who.user_id
        )
        await ctx.runtime.store.kv_put(MCP_AUTH_LINKS, key, {"url": url, "integration_id": found.id}, org_id=who.org_id)
    return found


@router.post("/{session_id}/mcp/{name}/auth", response_model=McpAuthStarted, responses=problems(404, 501))
async def authenticate_mcp_server(
    session_id: str, name: str, body: McpAuthCreate, ctx: Ctx, who: Writer
) -> McpAuthStarted:
    """Start OAuth for a remote (http/sse) server: the org's integration for its URL (a custom MCP integration,
    created when there is none) begins the sign-in, and the grant is kept in the vault, never in the workspace.
    400 for a stdio server (it authenticates through its env); 501 when this server has no OAuth configured."""
    session = await ctx.session(who, session_id)
    if ctx.oauth is None:
        raise not_implemented("OAuth sign-in")
    files = _files(ctx, who, session)
    entry = await anyio.to_thread.run_sync(_server_entry, files, name)
    if entry is None:
        if name in {d["name"] for d in await _describe(ctx, session, connect=False)}:
            raise ConfigError(f"MCP server {name!r} comes from org policy or an integration: sign in there")
        raise NotFoundError(f"session {session_id} has no MCP server {name[:80]!r}")
    url = entry.get("url")
    if not isinstance(url, str) or entry.get("type", "stdio") == "stdio":
        raise ConfigError(
            f"MCP server {name!r} is a stdio server (it authenticates through its env); nothing to sign in to"
        )
    found = await _integration_for(ctx, who, name, url)
    grant_for = body.grant_for
    may_connect_org = who.can("integrations:write")  # as POST /integrations/{id}/oauth/start decides
    if grant_for is None:
        view = await ctx.oauth.grants(who.org_id, found.id, user_id=who.user_id)
        grant_for = "org" if may_connect_org and view.get("policy") != "user_only" else "me"
    if grant_for == "org" and not may_connect_org:
        raise forbidden(f"this key (role {who.role}) cannot connect the org's shared grant; use for=me")
    owner = "org" if grant_for == "org" else f"user:{who.user_id}"
    authorize_url = await ctx.oauth.begin_connect(who.org_id, found.id, user_id=who.user_id, owner=owner)
    await ctx.audit.append(who, "mcp.auth", session_id, {"name": name, "integration_id": found.id})
    return McpAuthStarted(authorize_url=authorize_url, integration_id=found.id)
