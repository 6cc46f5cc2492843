"""Continue elsewhere: mint an export token, export a session as one document, import one into the caller's org.

`dexa pull` reads GET /sessions/{id}/export with an export token (or an API key that may read the session);
`dexa push` posts the document to POST /sessions/import with an API key, and the session continues on the web.
"""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path
from typing import Annotated

import anyio
from fastapi import APIRouter, Request, Security
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import ValidationError

from dexa.api.deps import Ctx, Reader, Writer, _bearer, get_principal, problems  # pyright: ignore[reportPrivateUsage]
from dexa.api.problems import forbidden
from dexa.api.schemas.sessions import SessionCreate, SessionPublic
from dexa.api.schemas.transfer import ExportTokenCreate, ExportTokenPublic, SessionBundle
from dexa.api.session_policy import check_session_request
from dexa.api.session_turns import public
from dexa.auth.models import Principal
from dexa.auth.service import unauthenticated
from dexa.core.errors import ConfigError, DexaError
from dexa.transfer.bundle import Incoming, discard_session, export_session, import_session, parse
from dexa.transfer.remote import materialize_remote, pack_remote
from dexa.transfer.tokens import ExportTokens, is_export_token
from dexa.transfer.workspace import materialize, pack

router = APIRouter(prefix="/sessions", tags=["sessions"])

Bearer = Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]


@router.post("/{session_id}/export-token", status_code=201, response_model=ExportTokenPublic, responses=problems(404))
async def create_export_token(
    session_id: str, request: Request, ctx: Ctx, who: Reader, body: ExportTokenCreate | None = None
) -> ExportTokenPublic:
    """A short-lived token that exports this one session (for `dexa pull`), and the command that uses it."""
    await ctx.session(who, session_id)
    token, expires_at = await ExportTokens(ctx.runtime.store).mint(
        session_id=session_id, org_id=who.org_id, user_id=who.user_id, ttl_s=(body or ExportTokenCreate()).ttl_s
    )
    await ctx.audit.append(who, "session.export_token", session_id, {"expires_at": expires_at})
    server = str(request.base_url).rstrip("/")
    return ExportTokenPublic(
        token=token,
        session_id=session_id,
        expires_at=expires_at,
        command=f"dexa pull {session_id} --server {server} --token {token}",
    )


async def _exporter(request: Request, ctx: Ctx, session_id: str, bearer: Bearer) -> Principal:
    """An export token for this session, or an API key whose holder may read sessions."""
    if bearer is None or not bearer.credentials:
        raise unauthenticated("missing token: send `Authorization: Bearer <export token or API key>`")
    if not is_export_token(bearer.credentials):
        who = await get_principal(request, ctx, bearer, None)
        if not who.can("sessions:read"):
            raise forbidden(f"this key (role {who.role}) lacks the 'sessions:read' scope")
        return who
    grant = await ExportTokens(ctx.runtime.store).verify(bearer.credentials, session_id=session_id)
    wait = ctx.limiter.take(grant.org_id)
    if wait:
        request.state.retry_after = wait
        raise DexaError(f"rate limit exceeded for org {grant.org_id}; retry in {wait}s", code="rate_limited")
    return Principal(
        org_id=grant.org_id,
        user_id=grant.user_id,
        role="reviewer",
        key_id="export-token",
        scopes=frozenset({"sessions:read"}),
    )


def _remote(ctx: Ctx) -> bool:
    """Sessions here get remote workspaces (Modal): their files are reached through the Workspace port."""
    return ctx.paths.remote_root is not None


@router.get("/{session_id}/export", response_model=SessionBundle, responses=problems(404, 409, 501))
async def export_session_bundle(session_id: str, request: Request, ctx: Ctx, bearer: Bearer) -> SessionBundle:
    """The session as one document: conversation, events, checkpoints with their blobs, permission state, and the
    workspace (a git bundle of the session branch plus uncommitted and untracked files, or a tree snapshot).
    Authorised by an export token for this session, or an API key. 409 while a turn is running."""
    who = await _exporter(request, ctx, session_id, bearer)
    session = await ctx.session(who, session_id)
    if _remote(ctx):
        # The cwd names a path in the session's own sandbox namespace (checked lexically when it was created).
        env = await ctx.call(ctx.runtime.engine.envs.env_for, session)
        workspace = await pack_remote(env.workspace, session.cwd)
    else:
        inside = await anyio.to_thread.run_sync(lambda: ctx.paths.contains(who.org_id, Path(session.cwd).resolve()))
        if not inside:
            raise forbidden(f"session {session_id}'s workspace is outside the org's workspace roots")
        workspace = await anyio.to_thread.run_sync(pack, session.cwd)
    doc = await export_session(ctx.runtime.store, getattr(ctx.runtime, "blobs", None), session, workspace)
    await ctx.audit.append(who, "session.export", session_id, {"workspace": workspace.kind, "bytes": workspace.size})
    return SessionBundle.model_validate(doc)


@router.post("/import", status_code=201, response_model=SessionPublic, responses=problems(400, 403, 501))
async def import_session_bundle(body: SessionBundle, ctx: Ctx, who: Writer) -> SessionPublic:
    """Create a session in the caller's org from an exported document (`dexa push`): a new id, its workspace
    materialized under the org's workspace root (`imported/<id>`), its conversation ready for the next message.
    Configuration naming the other home's files or integrations is dropped. On a server whose sessions get remote
    workspaces (Modal) the new session starts at the workspace root and the files are written through its port."""
    incoming = parse(body.model_dump())
    try:
        request = SessionCreate(
            model=incoming.model or None,
            permission_mode=incoming.permission_mode,  # pyright: ignore[reportArgumentType]
            title=incoming.title,
            network=incoming.config.network,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"session.{'.'.join(map(str, first['loc']))}: {first['msg']}") from exc
    await check_session_request(ctx, who, request)
    if _remote(ctx):
        return await _import_remote(ctx, who, incoming, request)
    root = await anyio.to_thread.run_sync(ctx.paths.workspace_root, who.org_id)
    dest = root / "imported" / f"{incoming.source_id[:40] or 'session'}-{secrets.token_hex(4)}"
    try:
        await anyio.to_thread.run_sync(materialize, incoming.workspace, dest)
        session = await ctx.call(
            ctx.runtime.create_session,
            cwd=str(dest),
            model=request.model,
            org_id=who.org_id,
            user_id=who.user_id,
            permission_mode=request.permission_mode,
            config=incoming.config,
            title=incoming.title,
        )
    except BaseException:
        await anyio.to_thread.run_sync(lambda: shutil.rmtree(dest, ignore_errors=True))
        raise
    try:
        session = await import_session(ctx.runtime.store, getattr(ctx.runtime, "blobs", None), incoming, session)
    except BaseException:
        # import_session has removed the session's records; the workspace goes too: nothing half-imported stays.
        await anyio.to_thread.run_sync(lambda: shutil.rmtree(dest, ignore_errors=True))
        raise
    await ctx.audit.append(who, "session.import", session.id, {"from": incoming.source_id, "cwd": str(dest)})
    return await public(ctx, session)


async def _import_remote(ctx: Ctx, who: Principal, incoming: Incoming, request: SessionCreate) -> SessionPublic:
    """The session first (its sandbox is named by its id), then its records, then its files through the port; any
    failure removes the session and its records (the sandbox and its volume go with the session's release)."""
    cwd = str(await anyio.to_thread.run_sync(lambda: ctx.paths.resolve(who.org_id, None)))
    session = await ctx.call(
        ctx.runtime.create_session,
        cwd=cwd,
        model=request.model,
        org_id=who.org_id,
        user_id=who.user_id,
        permission_mode=request.permission_mode,
        config=incoming.config,
        title=incoming.title,
    )
    session = await import_session(ctx.runtime.store, getattr(ctx.runtime, "blobs", None), incoming, session)
    try:
        env = await ctx.call(ctx.runtime.engine.envs.env_for, session)
        written = await materialize_remote(env.workspace, cwd, incoming.workspace)
    except BaseException:
        await discard_session(ctx.runtime.store, incoming, session.id)
        raise
    await ctx.audit.append(
        who, "session.import", session.id, {"from": incoming.source_id, "cwd": cwd, "remote": True, "files": written}
    )
    return await public(ctx, session)
