"""Request dependencies: the app context, the authenticated caller (with rate limit) and scope checks."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, ParamSpec, TypeVar

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from dexa.auth.audit import AuditLog
from dexa.auth.models import Principal
from dexa.auth.orgpaths import OrgPaths
from dexa.auth.service import AuthService, unauthenticated
from dexa.core.errors import DexaError
from dexa.core.session import Session

from .csrf import check_cookie_write
from .ports import (
    ApiRuntime,
    IntegrationRegistry,
    OAuthConnector,
    OutputQueue,
    PermissionChecker,
    Rewinder,
    SignedLinks,
)
from .problems import forbidden, not_implemented, problem_content
from .ratelimit import RateLimiter
from .sse import EventHub, StreamConfig
from .worker import TurnWorker

P = ParamSpec("P")
T = TypeVar("T")

COOKIE_NAME = "dexa_token"


@dataclass(slots=True, kw_only=True)
class ApiContext:
    runtime: ApiRuntime
    auth: AuthService
    audit: AuditLog
    hub: EventHub
    limiter: RateLimiter
    stream: StreamConfig
    outputs: OutputQueue
    integrations: IntegrationRegistry
    rewinder: Rewinder | None = None
    permission_check: PermissionChecker | None = None
    oauth: OAuthConnector | None = None
    links: SignedLinks | None = None
    # Where each org's workspaces and configuration scope live (see dexa.auth.orgpaths).
    paths: OrgPaths
    # The local org's home (its ~/.claude); None -> the settings, memory and extension routes answer 501.
    config_home: str | None = None
    # The local org's registered workspace (`dexa serve`'s directory), if any; other orgs never see it.
    default_cwd: str | None = None
    # Accept `scripted:` model paths (they read a file on the server): test harnesses only.
    test_mode: bool = False
    version: str = "0"
    # When set, the engine and driver live on this loop thread; routes reach them through call().
    worker: TurnWorker | None = None
    # Serialises submit per session inside this process (the engine's busy check is read-then-write).
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def lock(self, session_id: str) -> asyncio.Lock:
        return self.locks.setdefault(session_id, asyncio.Lock())

    async def call(self, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run an engine/driver/runtime coroutine where the engine lives (the turn worker, if any)."""
        if self.worker is None:
            return await fn(*args, **kwargs)
        return await self.worker.call(fn, *args, **kwargs)

    def home(self, who: Principal) -> str:
        """The caller's org's home: the owner's own for the local org, a per-org scope for every other org."""
        if self.config_home is None:
            raise not_implemented("settings and extensions (no config home)")
        return str(self.paths.home(who.org_id))

    async def session(self, who: Principal, session_id: str) -> Session:
        """The caller's session; another org's id raises NotFoundError exactly like a missing one."""
        return await self.runtime.store.get_session(session_id, org_id=who.org_id)


def get_ctx(request: Request) -> ApiContext:
    return request.app.state.dexa


Ctx = Annotated[ApiContext, Depends(get_ctx)]

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer dexa_...`")
_cookie = APIKeyCookie(name=COOKIE_NAME, auto_error=False, description="The same key as a cookie (web UI)")


async def get_principal(
    request: Request,
    ctx: Ctx,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    cookie: Annotated[str | None, Security(_cookie)],
) -> Principal:
    token = bearer.credentials if bearer is not None else cookie
    if not token:
        raise unauthenticated("missing API key: send `Authorization: Bearer <token>`")
    if bearer is None:
        check_cookie_write(request)
    who = await ctx.auth.authenticate(token)
    wait = ctx.limiter.take(who.org_id)
    if wait:
        request.state.retry_after = wait
        raise DexaError(f"rate limit exceeded for org {who.org_id}; retry in {wait}s", code="rate_limited")
    return who


def require(scope: str) -> Callable[..., Awaitable[Principal]]:
    async def check(who: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if not who.can(scope):
            raise forbidden(f"this key (role {who.role}) lacks the {scope!r} scope")
        return who

    return check


def require_admin() -> Callable[..., Awaitable[Principal]]:
    """Org configuration (settings, policies, schedules, memory): the admin role with an un-narrowed key
    (keys:write is the scope only admins hold, so a key narrowed below admin cannot change org configuration)."""

    async def check(who: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if who.role != "admin" or not who.can("keys:write"):
            raise forbidden(f"this key (role {who.role}) cannot change org configuration; an admin key can")
        return who

    return check


Reader = Annotated[Principal, Depends(require("sessions:read"))]
Writer = Annotated[Principal, Depends(require("sessions:write"))]
Approver = Annotated[Principal, Depends(require("approvals:write"))]
OutputReviewer = Annotated[Principal, Depends(require("outputs:write"))]
IntegrationReader = Annotated[Principal, Depends(require("integrations:read"))]
IntegrationWriter = Annotated[Principal, Depends(require("integrations:write"))]
PermissionTester = Annotated[Principal, Depends(require("permissions:check"))]
Auditor = Annotated[Principal, Depends(require("audit:read"))]
KeyAdmin = Annotated[Principal, Depends(require("keys:write"))]
ConfigAdmin = Annotated[Principal, Depends(require_admin())]
Authenticated = Annotated[Principal, Depends(get_principal)]

_DESCRIPTIONS = {
    400: "The body is not JSON, or the request cannot be honoured (e.g. the working directory does not exist)",
    401: "Missing, malformed, revoked or unknown API key",
    403: "The key's role or scopes do not allow this",
    404: "No such resource in the caller's org",
    409: "Conflict: the session is busy, or the decision was already made",
    422: "The request does not match the schema",
    429: "The org's rate limit is exhausted; see Retry-After",
    501: "This server has no implementation configured for the feature",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for error statuses; every authenticated route gets 400/401/403/422/429
    (400 also covers a body that is not JSON at all)."""
    codes = sorted({400, 401, 403, 422, 429, *statuses})
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        entry: dict[str, Any] = {"description": _DESCRIPTIONS[code]}
        if code == 429:
            entry["headers"] = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}
        entry["content"] = problem_content()  # not {"model": Problem}: see problem_content
        out[code] = entry
    return out
