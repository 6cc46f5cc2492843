"""Integrations an org has connected. Thin over the configured IntegrationRegistry.

OAuth grants: an admin connects the org's shared grant; any user may connect their own (`?for=me`) and see or
remove only their own and the org's. Which one a session uses is the integration's grants policy.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import RedirectResponse

from dexa.api.deps import COOKIE_NAME, ApiContext, ConfigAdmin, Ctx, IntegrationReader, IntegrationWriter, problems
from dexa.api.mount import mount_root
from dexa.api.ports import OAuthConnector
from dexa.api.problems import not_implemented
from dexa.api.schemas.admin import (
    IntegrationCreate,
    IntegrationPublic,
    IntegrationsPublic,
    IntegrationStatusPublic,
    McpAllowlist,
    ServerPolicyPublic,
    ServerPolicyUpdate,
)
from dexa.api.schemas.common import ID_PATTERN
from dexa.api.schemas.config import OAuthStartPublic
from dexa.api.schemas.grants import GrantFor, GrantPolicyUpdate, GrantsPublic
from dexa.auth.models import ROLE_SCOPES, Principal
from dexa.core.errors import DexaError, NotFoundError, PermissionDeniedError

router = APIRouter(prefix="/integrations", tags=["integrations"])
# The provider redirects the browser here; the path is the redirect URI registered with it.
callback_router = APIRouter(tags=["integrations"])

IntegrationId = Annotated[str, Path(pattern=ID_PATTERN)]


@router.get("", response_model=IntegrationsPublic, responses=problems())
async def list_integrations(ctx: Ctx, who: IntegrationReader) -> IntegrationsPublic:
    rows = await ctx.integrations.list(who.org_id)
    return IntegrationsPublic(data=[IntegrationPublic.of(i) for i in rows], count=len(rows))


@router.get("/mcp-allowlist", response_model=McpAllowlist, responses=problems(501))
async def get_mcp_allowlist(ctx: Ctx, who: IntegrationReader) -> McpAllowlist:
    """The URL patterns a custom MCP server must match to be added to this org."""
    return McpAllowlist(patterns=await _allowlist_port(ctx).mcp_allowlist(who.org_id))


@router.put("/mcp-allowlist", response_model=McpAllowlist, responses=problems(501))
async def put_mcp_allowlist(body: McpAllowlist, ctx: Ctx, who: ConfigAdmin) -> McpAllowlist:
    """Replace the org's custom MCP allowlist (admins). On a deployed stack this is the only way to set it: the
    CLI's `dexa integrations allow` writes a local home's."""
    port = _allowlist_port(ctx)
    await port.set_mcp_allowlist(who.org_id, list(body.patterns))
    await ctx.audit.append(who, "integration.allowlist", "mcp", {"patterns": list(body.patterns)})
    return McpAllowlist(patterns=await port.mcp_allowlist(who.org_id))


def _allowlist_port(ctx: ApiContext) -> Any:
    # Registries made before the allowlist was part of the port (test doubles, embedders' own) may lack it.
    if not hasattr(ctx.integrations, "set_mcp_allowlist"):
        raise not_implemented("the custom MCP allowlist")
    return ctx.integrations


@router.post("", status_code=201, response_model=IntegrationPublic, responses=problems(400))
async def create_integration(body: IntegrationCreate, ctx: Ctx, who: IntegrationWriter) -> IntegrationPublic:
    item = await ctx.integrations.create(who.org_id, kind=body.kind, name=body.name, config=body.config, by=who.user_id)
    await ctx.audit.append(who, "integration.create", item.id, {"kind": item.kind, "name": item.name})
    return IntegrationPublic.of(item)


@router.delete("/{integration_id}", status_code=204, response_class=Response, responses=problems(404))
async def delete_integration(integration_id: IntegrationId, ctx: Ctx, who: IntegrationWriter) -> Response:
    await ctx.integrations.delete(who.org_id, integration_id)
    await ctx.audit.append(who, "integration.delete", integration_id)
    return Response(status_code=204)


@router.get("/{integration_id}/status", response_model=IntegrationStatusPublic, responses=problems(404))
async def integration_status(
    integration_id: IntegrationId, ctx: Ctx, who: IntegrationReader
) -> IntegrationStatusPublic:
    return IntegrationStatusPublic.of(await ctx.integrations.status(who.org_id, integration_id))


async def _server_name(ctx: ApiContext, org_id: str, integration_id: str) -> str:
    """The server name an integration's tools go by (its policy's key); another org's id is simply not found."""
    for item in await ctx.integrations.list(org_id):
        if item.id == integration_id:
            return item.name
    raise NotFoundError(f"no integration {integration_id}")


@router.get("/{integration_id}/policy", response_model=ServerPolicyPublic, responses=problems(404))
async def get_server_policy(integration_id: IntegrationId, ctx: Ctx, who: IntegrationReader) -> ServerPolicyPublic:
    """What this server's reads, writes and tools get under the org's output policy (null: the built-in default)."""
    from dexa.integrations.outputs.server_policy import server_policy

    name = await _server_name(ctx, who.org_id, integration_id)
    found = await server_policy(ctx.runtime.store, who.org_id, name)
    return ServerPolicyPublic(integration_id=integration_id, **found.to_dict())


@router.put("/{integration_id}/policy", response_model=ServerPolicyPublic, responses=problems(400, 404))
async def put_server_policy(
    integration_id: IntegrationId, body: ServerPolicyUpdate, ctx: Ctx, who: ConfigAdmin
) -> ServerPolicyPublic:
    """Set how this server's calls are treated: e.g. reads "direct", writes "stage", one tool "deny"."""
    from dexa.integrations.outputs.server_policy import set_server_policy

    name = await _server_name(ctx, who.org_id, integration_id)
    changes = body.model_dump(include=body.model_fields_set)
    updated, doc = await set_server_policy(ctx.runtime.store, who.org_id, name, changes)
    await ctx.audit.append(who, "output_policy.update", "org", {"server": name, "changes": changes, "policy": doc})
    return ServerPolicyPublic(integration_id=integration_id, **updated.to_dict())


def _oauth(ctx: ApiContext) -> OAuthConnector:
    if ctx.oauth is None:
        raise not_implemented("OAuth sign-in for integrations")
    return ctx.oauth


def _may_connect_org(who: Principal) -> bool:
    return who.can("integrations:write")


def _owner(who: Principal, grant_for: GrantFor) -> str:
    if grant_for == "me":
        return f"user:{who.user_id}"
    if not _may_connect_org(who):
        raise PermissionDeniedError(
            f"this key (role {who.role}) cannot manage the organisation's shared grant; an admin can "
            "(connect your own account with for=me)",
            code="forbidden",
        )
    return "org"


@router.post("/{integration_id}/oauth/start", response_model=OAuthStartPublic, responses=problems(403, 404, 501))
async def start_oauth(
    integration_id: IntegrationId,
    ctx: Ctx,
    who: IntegrationReader,
    grant_for: Annotated[
        GrantFor | None,
        Query(
            alias="for",
            description="org: the org's shared grant (admins); me: the caller's own account. Default: org for a "
            "caller who may manage integrations, else me; me for an integration whose policy is user_only",
        ),
    ] = None,
) -> OAuthStartPublic:
    """Begin OAuth sign-in: open `authorize_url` in the browser; the provider returns to /oauth/callback."""
    await ctx.integrations.status(who.org_id, integration_id)  # another org's id: 404 before anything else
    oauth = _oauth(ctx)
    if grant_for is None:
        view = await oauth.grants(who.org_id, integration_id, user_id=who.user_id)
        grant_for = "org" if _may_connect_org(who) and view.get("policy") != "user_only" else "me"
    owner = _owner(who, grant_for)
    url = await oauth.begin_connect(who.org_id, integration_id, user_id=who.user_id, owner=owner)
    await ctx.audit.append(who, "integration.oauth.start", integration_id, {"grant_owner": owner})
    return OAuthStartPublic(authorize_url=url)


@router.get("/{integration_id}/grants", response_model=GrantsPublic, responses=problems(404, 501))
async def list_grants(integration_id: IntegrationId, ctx: Ctx, who: IntegrationReader) -> GrantsPublic:
    """The org's grant and the caller's own (never another user's), the policy, and whose grant the caller's
    sessions use."""
    view = await _oauth(ctx).grants(who.org_id, integration_id, user_id=who.user_id)
    return GrantsPublic.of(integration_id, view)


@router.put("/{integration_id}/grants", response_model=GrantsPublic, responses=problems(400, 403, 404, 501))
async def set_grant_policy(
    integration_id: IntegrationId, body: GrantPolicyUpdate, ctx: Ctx, who: ConfigAdmin
) -> GrantsPublic:
    """Set whose grant sessions use: user_first (a user's own, else the org's), org_only or user_only."""
    oauth = _oauth(ctx)
    await oauth.set_grant_policy(who.org_id, integration_id, body.policy)
    await ctx.audit.append(who, "integration.grants.policy", integration_id, {"policy": body.policy})
    return GrantsPublic.of(integration_id, await oauth.grants(who.org_id, integration_id, user_id=who.user_id))


@router.delete(
    "/{integration_id}/grants/{grant_for}", status_code=204, response_class=Response, responses=problems(403, 404)
)
async def delete_grant(
    integration_id: IntegrationId, grant_for: GrantFor, ctx: Ctx, who: IntegrationReader
) -> Response:
    """Disconnect the caller's own grant (`me`) or, for an admin, the org's (`org`); revoked at the vendor where
    it can be."""
    owner = _owner(who, grant_for)
    await _oauth(ctx).forget_grant(who.org_id, integration_id, owner)
    await ctx.audit.append(who, "integration.grant.delete", integration_id, {"grant_owner": owner})
    return Response(status_code=204)


@callback_router.get(
    "/oauth/callback",
    response_model=IntegrationPublic,
    responses={
        303: {"description": "A browser (Accept: text/html) goes back to the integrations page"},
        **problems(404, 501),
    },
)
async def oauth_callback(
    request: Request,
    ctx: Ctx,
    code: Annotated[str, Query(min_length=1, max_length=4096)],
    state: Annotated[str, Query(min_length=1, max_length=512)],
    iss: Annotated[str | None, Query(min_length=1, max_length=2048)] = None,
) -> Any:
    """Finish a sign-in: the signed, single-use `state` authenticates it as the user who started it (the
    provider's redirect is cross-site, so a SameSite=Strict cookie is not sent). A forged, spent or expired state,
    or a request signed in as someone else: 404; the org's shared grant needs a user who may manage integrations.

    A browser is sent back to /ui/integrations with `connected=<id>` (and `error=` when it failed)."""
    browser = "text/html" in request.headers.get("accept", "")
    ui = mount_root(request) + "/ui/integrations"
    try:
        who = await _callback_caller(request, ctx, state)
        item = await _oauth(ctx).complete_connect(
            who.org_id,
            state=state,
            code=code,
            iss=iss,
            user_id=who.user_id,
            may_connect_org=_may_connect_org(who),
        )
    except DexaError as exc:
        if not browser:
            raise
        query = urlencode({"connected": "", "error": exc.message or str(exc)})
        return RedirectResponse(f"{ui}?{query}", status_code=303)
    await ctx.audit.append(
        who, "integration.oauth.connect", item.id, {"kind": item.kind, "grant_owner": item.grant_owner}
    )
    if browser:
        return RedirectResponse(f"{ui}?{urlencode({'connected': item.id})}", status_code=303)
    return IntegrationPublic.of(item)


async def _callback_caller(request: Request, ctx: ApiContext, state: str) -> Principal:
    """The user who started the sign-in `state` belongs to, as they are now (role, not disabled). A credential the
    request carries anyway (an API client, a same-site browser) must be that user's: anyone else gets 404."""
    gone = NotFoundError("unknown or already used OAuth state; start the connection again")
    starter = await _oauth(ctx).started_by(state)
    if starter is None:
        raise gone
    org_id, user_id = starter
    try:
        user = await ctx.auth.get_user(org_id, user_id)
    except NotFoundError:
        raise gone from None
    if user.disabled:
        raise PermissionDeniedError(f"user {user_id} is disabled", code="forbidden")
    bearer = request.headers.get("authorization", "")
    token = bearer[7:].strip() if bearer[:7].lower() == "bearer " else request.cookies.get(COOKIE_NAME)
    if token:
        try:
            caller = await ctx.auth.authenticate(token)
        except PermissionDeniedError:
            caller = None  # a stale cookie: the state alone decides
        if caller is not None and (caller.org_id, caller.user_id) != (org_id, user_id):
            raise gone
    return Principal(org_id=org_id, user_id=user_id, role=user.role, scopes=ROLE_SCOPES[user.role])
