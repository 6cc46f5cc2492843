"""The full app over a real runtime: the API's ports filled by checkpoints, integrations, outputs, permissions,
code sources and the web UI. `dexa serve` and the API Lambda both build their app here.

A surface above both the API and the web UI (the web UI's routes use the API's auth), so it is neither in
api/ nor in web/; it sits beside wiring.py, which it builds on. `dexa serve` and the cloud entry import it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI

from dexa.api.lazy_routers import DeferredRouters
from dexa.api.ports import Integration, IntegrationStatus, PendingOutput
from dexa.core.errors import ConflictError, NotFoundError
from dexa.core.ports import PermissionDecision
from dexa.core.session import SessionConfig
from dexa.wiring import LOCAL_ORG, Runtime

logger = logging.getLogger(__name__)

_STATE = {
    "connected": "connected",
    "active": "connected",
    "healthy": "connected",
    "needs_auth": "disconnected",
    "disconnected": "disconnected",
    "expired": "disconnected",
    "error": "error",
}


class IntegrationsPort:
    """The API's IntegrationRegistry over the real registry (catalogue, OAuth, vault)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    @property
    def registry(self) -> Any:
        return self.runtime.integrations.registry

    @staticmethod
    def _public(record: Mapping[str, Any], by: str = "") -> Integration:
        return Integration(
            id=str(record["id"]),
            org_id=str(record.get("org_id", "")),
            kind=str(record.get("provider") or record.get("kind", "")),
            name=str(record["name"]),
            config=dict(record.get("config") or {}),
            created_at=float(record.get("created_at", 0.0)),
            created_by=str(record.get("created_by", by)),
            grant_owner=str(record.get("grant_owner", "")),
        )

    async def list(self, org_id: str) -> list[Integration]:
        return [self._public(r) for r in await self.registry.list(org_id)]

    async def mcp_allowlist(self, org_id: str) -> list[str]:
        return await self.registry.allowlist(org_id)

    async def set_mcp_allowlist(self, org_id: str, patterns: list[str]) -> None:
        await self.registry.set_allowlist(org_id, patterns)

    async def create(self, org_id: str, *, kind: str, name: str, config: Mapping[str, Any], by: str) -> Integration:
        spec = {
            "provider": kind,
            "name": name,
            **{k: v for k, v in config.items() if k in ("mode", "url", "transport", "grants")},
            "config": {k: v for k, v in config.items() if k not in ("mode", "url", "transport", "grants")},
        }
        return self._public(await self.registry.add(org_id, spec), by)

    async def delete(self, org_id: str, integration_id: str) -> None:
        await self.registry.remove(org_id, integration_id)

    async def status(self, org_id: str, integration_id: str) -> IntegrationStatus:
        st = await self.registry.status(org_id, integration_id)
        health = st.get("health") or {}
        state = _STATE.get(str(st.get("status")), "configured")
        # Last sync: the last health check that succeeded, else when a connected record last changed.
        synced = health.get("checked_at") if health.get("ok") else None
        if synced is None and state == "connected":
            synced = st.get("updated_at")
        return IntegrationStatus(
            id=integration_id,
            state=state,  # type: ignore[arg-type]
            detail=str(st.get("last_error") or health.get("detail") or st.get("status", "")),
            checked_at=float(health.get("checked_at") or st.get("updated_at") or 0.0),
            last_sync=float(synced) if synced else None,
        )

    async def begin_connect(self, org_id: str, integration_id: str, *, user_id: str, owner: str = "org") -> str:
        return await self.registry.begin_connect(org_id, integration_id, user_id=user_id, owner=owner)

    async def complete_connect(
        self,
        org_id: str,
        *,
        state: str,
        code: str,
        iss: str | None = None,
        user_id: str = "",
        may_connect_org: bool = True,
    ) -> Integration:
        # The state names the org (and, for a user's own grant, the user) that started the flow; anyone else's (or
        # an unknown) state is 404, checked before completing so a wrong caller cannot spend someone else's
        # sign-in, nor store their own account as another user's grant.
        from dexa.core.errors import PermissionDeniedError
        from dexa.integrations.grants import ORG, user_owner
        from dexa.integrations.oauth import PENDING_NAMESPACE

        oauth = self.registry.oauth
        pending = None if oauth is None else await oauth.kv.kv_get(PENDING_NAMESPACE, state)
        if pending is None or pending.get("org_id") != org_id:
            raise NotFoundError("unknown or already used OAuth state; start the connection again")
        owner = str(pending.get("owner") or ORG)
        if owner != ORG and (not user_id or owner != user_owner(user_id)):
            raise NotFoundError("unknown or already used OAuth state; start the connection again")
        if owner == ORG and not may_connect_org:
            raise PermissionDeniedError("only an admin can connect the organisation's shared grant")
        return self._public(await self.registry.complete_connect(state=state, code=code, iss=iss))

    async def started_by(self, state: str) -> tuple[str, str] | None:
        from dexa.integrations.oauth import PENDING_NAMESPACE
        from dexa.integrations.oauth_state import bound

        oauth = self.registry.oauth
        pending = None if oauth is None else await oauth.kv.kv_get(PENDING_NAMESPACE, state)
        if oauth is None or pending is None or not await bound(oauth.kv, state, pending):
            return None
        return str(pending.get("org_id") or ""), str(pending.get("user_id") or "")

    async def grants(self, org_id: str, integration_id: str, *, user_id: str) -> Mapping[str, Any]:
        record = await self.registry.record(org_id, integration_id)
        return {
            "policy": record.get("grants") or "user_first",
            "grant_owner": await self.registry.grant_owner(org_id, record, user_id),
            "grants": await self.registry.grants(org_id, integration_id, user_id=user_id),
        }

    async def forget_grant(self, org_id: str, integration_id: str, owner: str) -> None:
        await self.registry.forget_grant(org_id, integration_id, owner)

    async def set_grant_policy(self, org_id: str, integration_id: str, policy: str) -> None:
        await self.registry.set_grant_policy(org_id, integration_id, policy)


# Why an output did not go out: the integration's error for a failed one, the reviewer's reason for a rejected one
# (the API's own queue reports both as `error`). Reading `reason` for failures left the UI's "Failed:" blank.
_WHY_FIELD = {"failed": "error", "rejected": "reason"}


def _reviewable(doc: Mapping[str, Any]) -> dict[str, Any]:
    """What a reviewer may edit: the arguments, and for a draft's send the draft's recipients, subject and body."""
    from dexa.integrations.outputs.email_edit import reviewable
    from dexa.integrations.outputs.models import PendingOutput as Staged

    return reviewable(Staged.from_dict(dict(doc)))


class OutputsPort:
    """The API's OutputQueue over the staged-output queue the MCP layer writes to."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        # Runs a coroutine where the engine lives (ApiContext.call, set by build_app): a decision executes the
        # output and drives the parked turn on, and both belong to the engine's loop, not the request's.
        self.on_engine: Any = None

    @property
    def queue(self) -> Any:
        return self.runtime.integrations.queue

    async def _engine(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if self.on_engine is None:
            return await fn(*args, **kwargs)
        return await self.on_engine(fn, *args, **kwargs)

    @staticmethod
    def _public(o: Any) -> PendingOutput:
        d = o if isinstance(o, Mapping) else o.to_dict()
        status = d.get("status", "pending")
        return PendingOutput(
            id=d["id"],
            org_id=d["org_id"],
            session_id=d["session_id"],
            kind=d.get("kind", ""),
            tool=d.get("exposed_name") or d.get("tool", ""),
            arguments=dict(d.get("final_arguments") or _reviewable(d)),
            integration=d.get("server", ""),
            summary=d.get("preview", ""),
            context={
                **dict(d.get("context") or {}),
                "recipients": list(d.get("recipients") or ()),
                "target": d.get("target", ""),
                "tool_use_id": d.get("tool_use_id", ""),
                # blocking / non_blocking, what a review edit changed, and how the server is reached (no secrets).
                "mode": d.get("mode", "non_blocking"),
                "changes": dict(d.get("changes") or {}),
                "connection": d.get("connection"),
                # Who the session acted for, and whose integration grant executed the output ("org"/"user:<id>").
                "requested_by": d.get("requested_by", ""),
                "grant_owner": d.get("grant_owner", ""),
            },
            status=status if status in ("pending", "approved", "rejected", "executed", "failed") else "pending",
            created_at=float(d.get("created_at") or 0.0),
            decided_by=d.get("decided_by"),
            decided_at=d.get("decided_at"),
            edited=bool(d.get("edited")),
            result=d.get("result"),
            error=str(d.get(_WHY_FIELD.get(status, "")) or ""),
        )

    async def stage(self, **kwargs: Any) -> PendingOutput:
        raise ConflictError("outputs are staged by the MCP layer when the agent calls a side-effecting tool")

    async def list(self, org_id: str, session_id: str) -> list[PendingOutput]:
        return [self._public(o) for o in await self.queue.list(org_id, session_id=session_id)]

    async def list_org(self, org_id: str) -> list[PendingOutput]:
        rows = [self._public(o) for o in await self.queue.list(org_id)]
        return sorted(rows, key=lambda o: (o.created_at, o.id))

    async def get(self, org_id: str, session_id: str, output_id: str) -> PendingOutput:
        out = self._public(await self.queue.get(org_id, output_id))
        if out.session_id != session_id:
            raise NotFoundError(f"no output {output_id} in session {session_id}")
        return out

    async def approve(
        self, org_id: str, session_id: str, output_id: str, *, by: str, arguments: Mapping[str, Any] | None = None
    ) -> PendingOutput:
        await self.get(org_id, session_id, output_id)
        try:
            return self._public(await self._engine(self.queue.approve, org_id, output_id, by=by, edited_args=arguments))
        except ConflictError as exc:
            raise ConflictError(str(exc), code="already_decided") from exc

    async def reject(self, org_id: str, session_id: str, output_id: str, *, by: str, reason: str = "") -> PendingOutput:
        await self.get(org_id, session_id, output_id)
        try:
            return self._public(await self._engine(self.queue.reject, org_id, output_id, by=by, reason=reason))
        except ConflictError as exc:
            raise ConflictError(str(exc), code="already_decided") from exc


class LinksPort:
    """Signed approval links, from the runtime's integrations (built on first use, like the other ports)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    @property
    def links(self) -> Any:
        links = self.runtime.integrations.links
        if links is None:
            from dexa.api.problems import not_implemented

            raise not_implemented("approval links (no link secret)")
        return links

    def peek(self, token: str) -> Any:
        return self.links.peek(token)

    async def redeem(
        self, token: str, queue: Any, *, by: str = "link", reason: str = "", decide_tool: Any = None
    ) -> Any:
        return await self.links.redeem(token, queue, by=by, reason=reason, decide_tool=decide_tool)


class PermissionCheck:
    """POST /permissions/check: what the engine would decide, from the same settings stack a session gets."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def __call__(
        self, *, org_id: str, tool: str, tool_input: Mapping[str, Any], cwd: str, mode: str
    ) -> PermissionDecision:
        from dexa.config.trust import session_trust
        from dexa.permissions.engine import PermissionEngine
        from dexa.runtime.assemble import read_settings

        envs = self.runtime.envs.for_org(org_id)  # the org's own user layer, never another org's
        hosted = self.runtime.settings.hosted
        settings, _ = read_settings(
            cwd,
            SessionConfig(),
            home=envs.home,
            org_policy=envs.org_policy,
            managed_path=self.runtime.settings.managed_settings_path,
            hosted=hosted,
            trust=session_trust(
                cwd, home=str(envs.home), local=org_id == LOCAL_ORG and not hosted, org_policy=envs.org_policy
            ),
        )
        return PermissionEngine(settings, cwd=cwd, home=str(envs.home)).decide(tool, tool_input, mode=mode, cwd=cwd)


def code_routes(runtime: Runtime) -> Sequence[APIRouter]:
    """The git proxy and the pull-request routes, when GitHub is configured (building them builds the code wiring)."""
    code = runtime.code
    if code is None:
        return []

    async def workspace_for(session: Any) -> Any:
        return (await runtime.envs.env_for(session)).workspace

    from dexa.api.code_routes import code_routers

    return code_routers(code, workspace_for=workspace_for)


# Every path dexa.web.create_web_router serves (tests/functional/api/test_lazy_routers.py checks it).
WEB_PATHS = ("/ui/static/{path:path}", "/ui/login", "/ui/logout", "/outputs/review", "/", "/ui", "/ui/{rest:path}")


def extra_routers(runtime: Runtime, *, local: bool, handoff_codes: Any = None) -> Sequence[APIRouter | DeferredRouters]:
    """The code, inbound and web routers, each built on the first request to one of its paths: an API Lambda's
    first request (most often GET /sessions) builds none of them."""
    from dexa.api.code_routes import PATHS as CODE_PATHS
    from dexa.api.inbound import PATHS as INBOUND_PATHS

    def inbound() -> Sequence[APIRouter]:
        from dexa.api.inbound import create_inbound_router

        # Slack clicks and events, templated task webhooks: signed by their senders, no API key.
        return [create_inbound_router(runtime, runtime.envs.env)]

    def web() -> Sequence[APIRouter]:
        try:
            from dexa.web import create_web_router
        except ImportError:
            logger.info("web UI not available")
            return []
        if local:
            from dexa.auth.bootstrap import read_local_token

            home = runtime.settings.home
            # The local key goes only to a loopback browser bringing a one-time code `dexa serve` prints.
            from dexa.web import HandoffCodes

            codes = handoff_codes if handoff_codes is not None else HandoffCodes()
            return [create_web_router(local_token=lambda: read_local_token(home), handoff_codes=codes)]
        return [create_web_router()]

    # The code routes build the GitHub wiring and httpx: most requests never need them.
    return [
        DeferredRouters("code", CODE_PATHS, lambda: code_routes(runtime)),
        DeferredRouters("inbound", INBOUND_PATHS, inbound),
        DeferredRouters("web", WEB_PATHS, web),
    ]


def build_app(runtime: Runtime, *, local: bool = False, **kwargs: Any) -> FastAPI:
    from dexa.api.app import create_app

    integrations = IntegrationsPort(runtime)
    outputs = OutputsPort(runtime)
    codes = None
    if local:  # the one-time codes `dexa serve` prints; a hosted API hands no one a key
        from dexa.web import HandoffCodes

        codes = HandoffCodes()
    ports: dict[str, Any] = {
        "rewinder": runtime.checkpoints,
        "outputs": outputs,
        "integrations": integrations,
        "permission_check": PermissionCheck(runtime),
        # OAuth needs a redirect URI / client registrations; links need the installation's link secret.
        "oauth": integrations,
        "approval_links": LinksPort(runtime),
        "config_home": runtime.envs.home,
        "extra_routers": extra_routers(runtime, local=local, handoff_codes=codes),
        "test_mode": runtime.settings.test_mode,
        "max_body_bytes": runtime.settings.max_body_bytes,
    }
    app = create_app(runtime, **{**ports, **kwargs})
    outputs.on_engine = app.state.dexa.call
    if local:
        app.state.handoff_codes = codes  # `dexa serve` issues the code it prints from here
    return app
