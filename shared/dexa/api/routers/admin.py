"""Health, the caller, permission checks, the audit log, users and API keys."""

from __future__ import annotations

import time
from pathlib import Path as FsPath
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Path, Query

from dexa.api.deps import ApiContext, Auditor, Authenticated, Ctx, KeyAdmin, PermissionTester, problems
from dexa.api.problems import not_implemented
from dexa.api.schemas.admin import (
    AuditEntryPublic,
    AuditPublic,
    KeyCreate,
    KeyCreated,
    KeyPublic,
    KeysPublic,
    PermissionCheckCreate,
    PermissionCheckPublic,
    UserCreate,
    UserPublic,
    UsersPublic,
)
from dexa.api.schemas.common import ID_PATTERN, HealthPublic, PrincipalPublic
from dexa.core.errors import ConfigError, PermissionDeniedError

router = APIRouter()

PATH_KEYS = ("file_path", "path", "notebook_path")


def _confine_input_paths(ctx: ApiContext, org_id: str, cwd: str, tool_input: dict[str, Any]) -> None:
    """A checked call's paths stay inside the org's workspace too: resolving one would otherwise tell the caller
    what exists (and where links point) anywhere on the server."""
    for key in PATH_KEYS:
        raw = tool_input.get(key)
        if not isinstance(raw, str) or not raw:
            continue
        if "\x00" in raw:
            raise ConfigError(f"input.{key}: NUL bytes are not allowed in a path")
        try:
            resolved = (FsPath(cwd) / raw).resolve()
        except (OSError, RuntimeError, ValueError) as exc:
            raise ConfigError(f"input.{key}: {raw[:200]!r} is not a usable path") from exc
        if not ctx.paths.contains(org_id, resolved):
            raise PermissionDeniedError(
                f"input.{key}: {raw[:200]!r} is outside this org's workspace root", code="forbidden"
            )


@router.get("/health", response_model=HealthPublic, tags=["meta"])
async def health(ctx: Ctx) -> HealthPublic:
    """Liveness; needs no key."""
    return HealthPublic(version=ctx.version, time=time.time())


@router.get("/me", response_model=PrincipalPublic, tags=["meta"], responses=problems())
async def me(who: Authenticated) -> PrincipalPublic:
    return PrincipalPublic(
        org_id=who.org_id, user_id=who.user_id, role=who.role, key_id=who.key_id, scopes=sorted(who.scopes)
    )


@router.post(
    "/permissions/check", response_model=PermissionCheckPublic, tags=["permissions"], responses=problems(400, 501)
)
async def check_permission(body: PermissionCheckCreate, ctx: Ctx, who: PermissionTester) -> PermissionCheckPublic:
    """What the permission engine would decide for a tool call (the UI's "test a tool call" box)."""
    if ctx.permission_check is None:
        raise not_implemented("permission checks")
    cwd = str(await anyio.to_thread.run_sync(lambda: ctx.paths.resolve(who.org_id, body.cwd)))
    await anyio.to_thread.run_sync(_confine_input_paths, ctx, who.org_id, cwd, body.input)
    d = await ctx.permission_check(
        org_id=who.org_id, tool=body.tool, tool_input=body.input, cwd=cwd, mode=body.mode or "default"
    )
    return PermissionCheckPublic(
        behavior=d.behavior, rule=d.rule, source=d.source, reason=d.reason, suggestions=list(d.suggestions)
    )


@router.get("/audit", response_model=AuditPublic, tags=["admin"], responses=problems())
async def audit(
    ctx: Ctx,
    who: Auditor,
    after: Annotated[str, Query(max_length=64, description="Entries with id > after")] = "",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPublic:
    """Who approved, rejected or changed what, oldest first. Admins only."""
    rows = await ctx.audit.list(who.org_id, after=after, limit=limit)
    data = [
        AuditEntryPublic(
            id=e.id, ts=e.ts, actor=e.actor, key_id=e.key_id, action=e.action, target=e.target, detail=e.detail
        )
        for e in rows
    ]
    return AuditPublic(data=data, count=len(data), next_after=data[-1].id if len(data) == limit else None)


@router.get("/users", response_model=UsersPublic, tags=["admin"], responses=problems())
async def list_users(ctx: Ctx, who: KeyAdmin) -> UsersPublic:
    rows = await ctx.auth.list_users(who.org_id)
    return UsersPublic(data=[UserPublic.of(u) for u in rows], count=len(rows))


@router.post("/users", status_code=201, response_model=UserPublic, tags=["admin"], responses=problems(400))
async def create_user(body: UserCreate, ctx: Ctx, who: KeyAdmin) -> UserPublic:
    user = await ctx.auth.create_user(who.org_id, body.name, body.role)
    await ctx.audit.append(who, "user.create", user.id, {"role": user.role, "name": user.name})
    return UserPublic.of(user)


@router.get("/keys", response_model=KeysPublic, tags=["admin"], responses=problems())
async def list_keys(ctx: Ctx, who: KeyAdmin) -> KeysPublic:
    rows = await ctx.auth.list_keys(who.org_id)
    return KeysPublic(data=[KeyPublic.of(k) for k in rows], count=len(rows))


@router.post("/keys", status_code=201, response_model=KeyCreated, tags=["admin"], responses=problems(400, 404))
async def create_key(body: KeyCreate, ctx: Ctx, who: KeyAdmin) -> KeyCreated:
    """Mint a key for a user of this org. The token is in this response only."""
    key, token = await ctx.auth.create_key(who.org_id, body.user_id, body.name, body.scopes)
    await ctx.audit.append(who, "key.create", key.id, {"user_id": key.user_id, "scopes": list(key.scopes)})
    return KeyCreated(**KeyPublic.of(key).model_dump(), token=token)


@router.delete("/keys/{key_id}", response_model=KeyPublic, tags=["admin"], responses=problems(404))
async def revoke_key(key_id: Annotated[str, Path(pattern=ID_PATTERN)], ctx: Ctx, who: KeyAdmin) -> KeyPublic:
    """Revoke a key; it stops working on the next request."""
    key = await ctx.auth.revoke_key(who.org_id, key_id)
    await ctx.audit.append(who, "key.revoke", key.id, {"user_id": key.user_id})
    return KeyPublic.of(key)
