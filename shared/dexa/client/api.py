"""DexaClient: a typed async client over httpx for the Dexa HTTP API.

Every public method is tagged with the operation it calls (`@operation(method, path)`); a test checks the tags
against /openapi.json both ways, so the client and the server cannot drift apart unnoticed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any, Literal

import httpx
from httpx_sse import SSEError, aconnect_sse

from dexa.api.schemas.admin import (
    AuditPublic,
    IntegrationPublic,
    IntegrationsPublic,
    IntegrationStatusPublic,
    KeyCreated,
    KeyPublic,
    KeysPublic,
    McpAllowlist,
    PermissionCheckPublic,
    UserPublic,
    UsersPublic,
)
from dexa.api.schemas.approvals import ApprovalPublic, ApprovalsPublic, OutputPublic, OutputsPublic
from dexa.api.schemas.common import EventPublic, HealthPublic, PrincipalPublic
from dexa.api.schemas.session_actions import (
    ArtifactsPublic,
    CheckpointsPublic,
    RewindPublic,
    TodoPublic,
    ToolsPublic,
    TurnAccepted,
)
from dexa.api.schemas.sessions import SessionPublic, SessionsPublic
from dexa.core.errors import ConfigError

from .config_api import ConfigOperations
from .errors import error_from
from .request import no_server, operation
from .session_commands import SessionCommandOperations
from .transfer_api import TransferOperations
from .workspace_api import WorkspaceOperations

logger = logging.getLogger(__name__)


class DexaClient(ConfigOperations, SessionCommandOperations, TransferOperations, WorkspaceOperations):
    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            transport=transport,
            timeout=httpx.Timeout(timeout, read=None),
            limits=httpx.Limits(max_connections=1000, max_keepalive_connections=100),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> DexaClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------ meta

    @operation("GET", "/health")
    async def health(self) -> HealthPublic:
        return await self._call("GET", "/health", HealthPublic)

    @operation("GET", "/me")
    async def me(self) -> PrincipalPublic:
        return await self._call("GET", "/me", PrincipalPublic)

    # ------------------------------------------------------------ sessions

    @operation("POST", "/sessions")
    async def create_session(self, *, prompt: str | None = None, **fields: Any) -> SessionPublic:
        body = {"prompt": prompt, **fields}
        return await self._call(
            "POST", "/sessions", SessionPublic, json_body={k: v for k, v in body.items() if v is not None}
        )

    @operation("GET", "/sessions")
    async def list_sessions(self, *, limit: int = 50, cwd: str | None = None) -> SessionsPublic:
        return await self._call("GET", "/sessions", SessionsPublic, params={"limit": limit, "cwd": cwd})

    @operation("GET", "/sessions/{session_id}")
    async def get_session(self, session_id: str) -> SessionPublic:
        return await self._call("GET", f"/sessions/{session_id}", SessionPublic)

    @operation("POST", "/sessions/{session_id}/messages")
    async def send_message(self, session_id: str, prompt: str) -> TurnAccepted:
        return await self._call("POST", f"/sessions/{session_id}/messages", TurnAccepted, json_body={"prompt": prompt})

    @operation("POST", "/sessions/{session_id}/abort")
    async def abort(self, session_id: str) -> SessionPublic:
        return await self._call("POST", f"/sessions/{session_id}/abort", SessionPublic)

    @operation("POST", "/sessions/{session_id}/mode")
    async def set_mode(self, session_id: str, mode: str) -> SessionPublic:
        return await self._call("POST", f"/sessions/{session_id}/mode", SessionPublic, json_body={"mode": mode})

    @operation("POST", "/sessions/{session_id}/fork")
    async def fork(self, session_id: str, *, title: str | None = None, message_id: str | None = None) -> SessionPublic:
        body = {k: v for k, v in {"title": title, "message_id": message_id}.items() if v is not None}
        return await self._call("POST", f"/sessions/{session_id}/fork", SessionPublic, json_body=body)

    @operation("GET", "/sessions/{session_id}/tools")
    async def tools(self, session_id: str) -> ToolsPublic:
        return await self._call("GET", f"/sessions/{session_id}/tools", ToolsPublic)

    @operation("GET", "/sessions/{session_id}/todo")
    async def todo(self, session_id: str) -> TodoPublic:
        return await self._call("GET", f"/sessions/{session_id}/todo", TodoPublic)

    @operation("GET", "/sessions/{session_id}/artifacts")
    async def artifacts(self, session_id: str) -> ArtifactsPublic:
        return await self._call("GET", f"/sessions/{session_id}/artifacts", ArtifactsPublic)

    @operation("GET", "/sessions/{session_id}/checkpoints")
    async def checkpoints(self, session_id: str) -> CheckpointsPublic:
        return await self._call("GET", f"/sessions/{session_id}/checkpoints", CheckpointsPublic)

    @operation("POST", "/sessions/{session_id}/rewind")
    async def rewind(
        self, session_id: str, checkpoint_id: str, *, mode: str = "both", on_conflict: str = "ask"
    ) -> RewindPublic:
        return await self._call(
            "POST",
            f"/sessions/{session_id}/rewind",
            RewindPublic,
            json_body={"checkpoint_id": checkpoint_id, "mode": mode, "on_conflict": on_conflict},
        )

    # ------------------------------------------------------------ approvals and outputs

    @operation("GET", "/sessions/{session_id}/approvals")
    async def list_approvals(self, session_id: str, *, status: str | None = None) -> ApprovalsPublic:
        return await self._call("GET", f"/sessions/{session_id}/approvals", ApprovalsPublic, params={"status": status})

    @operation("POST", "/sessions/{session_id}/approve")
    async def approve(
        self,
        session_id: str,
        approval_id: str,
        decision: Literal["once", "always", "deny"],
        *,
        message: str = "",
        updated_input: dict[str, Any] | None = None,
    ) -> ApprovalPublic:
        body: dict[str, Any] = {"approval_id": approval_id, "decision": decision, "message": message}
        if updated_input is not None:
            body["updated_input"] = updated_input
        return await self._call("POST", f"/sessions/{session_id}/approve", ApprovalPublic, json_body=body)

    @operation("GET", "/sessions/{session_id}/pending-outputs")
    async def list_outputs(self, session_id: str, *, status: str | None = None) -> OutputsPublic:
        return await self._call(
            "GET", f"/sessions/{session_id}/pending-outputs", OutputsPublic, params={"status": status}
        )

    @operation("POST", "/sessions/{session_id}/pending-outputs/{output_id}/approve")
    async def approve_output(
        self, session_id: str, output_id: str, *, arguments: dict[str, Any] | None = None
    ) -> OutputPublic:
        body = {} if arguments is None else {"arguments": arguments}
        return await self._call(
            "POST", f"/sessions/{session_id}/pending-outputs/{output_id}/approve", OutputPublic, json_body=body
        )

    @operation("POST", "/sessions/{session_id}/pending-outputs/{output_id}/reject")
    async def reject_output(self, session_id: str, output_id: str, *, reason: str = "") -> OutputPublic:
        return await self._call(
            "POST",
            f"/sessions/{session_id}/pending-outputs/{output_id}/reject",
            OutputPublic,
            json_body={"reason": reason},
        )

    # ------------------------------------------------------------ events

    @operation("GET", "/sessions/{session_id}/events")
    async def events(
        self, session_id: str, *, after: int = 0, follow: bool = True, poll: bool = False
    ) -> AsyncIterator[EventPublic]:
        """Every event after `after`, in order, exactly once, reconnecting with Last-Event-ID whenever the
        server ends the stream (max stream length, buffered hosts) or the connection drops.

        With follow=False it stops when the server has nothing more right now.
        """
        cursor = after
        retry_s = 1.0
        params: dict[str, Any] = {}
        if not follow:
            params = {"mode": "poll"}
        elif poll:  # long-poll: the server holds the request until something happens
            params = {"mode": "poll", "wait": 20}
        while True:
            headers = {"Last-Event-ID": str(cursor)}
            got = 0
            try:
                async with aconnect_sse(
                    self._http, "GET", f"/sessions/{session_id}/events", headers=headers, params=params
                ) as source:
                    response = source.response
                    if response.status_code >= 400:
                        await response.aread()
                        raise error_from(response)
                    async for msg in source.aiter_sse():
                        if msg.retry is not None:
                            retry_s = msg.retry / 1000
                        if not msg.data:
                            continue
                        event = EventPublic.model_validate(json.loads(msg.data))
                        if event.seq <= cursor:
                            continue  # a duplicate after a reconnect race is dropped, never re-delivered
                        cursor = event.seq
                        got += 1
                        yield event
            except httpx.ConnectError as exc:
                raise no_server(self.base_url, exc) from exc
            except SSEError as exc:  # a proxy's or another service's page, not Dexa's event stream
                raise ConfigError(f"{self.base_url} did not answer with an event stream: {exc}") from exc
            except (httpx.ReadError, httpx.RemoteProtocolError) as exc:
                logger.info("event stream for %s dropped (%s); resuming after %s", session_id, exc, cursor)
            if not follow and got == 0:
                return
            if got == 0:
                await asyncio.sleep(retry_s)

    # ------------------------------------------------------------ integrations

    @operation("GET", "/integrations")
    async def list_integrations(self) -> IntegrationsPublic:
        return await self._call("GET", "/integrations", IntegrationsPublic)

    @operation("POST", "/integrations")
    async def create_integration(self, kind: str, name: str, config: dict[str, Any] | None = None) -> IntegrationPublic:
        return await self._call(
            "POST", "/integrations", IntegrationPublic, json_body={"kind": kind, "name": name, "config": config or {}}
        )

    @operation("GET", "/integrations/mcp-allowlist")
    async def get_mcp_allowlist(self) -> McpAllowlist:
        return await self._call("GET", "/integrations/mcp-allowlist", McpAllowlist)

    @operation("PUT", "/integrations/mcp-allowlist")
    async def put_mcp_allowlist(self, patterns: list[str]) -> McpAllowlist:
        """Replace the org's custom MCP allowlist (URL globs); admins only."""
        return await self._call("PUT", "/integrations/mcp-allowlist", McpAllowlist, json_body={"patterns": patterns})

    @operation("DELETE", "/integrations/{integration_id}")
    async def delete_integration(self, integration_id: str) -> None:
        await self._call("DELETE", f"/integrations/{integration_id}", None)

    @operation("GET", "/integrations/{integration_id}/status")
    async def integration_status(self, integration_id: str) -> IntegrationStatusPublic:
        return await self._call("GET", f"/integrations/{integration_id}/status", IntegrationStatusPublic)

    # ------------------------------------------------------------ permissions, audit, users, keys

    @operation("POST", "/permissions/check")
    async def check_permission(
        self, tool: str, tool_input: dict[str, Any] | None = None, *, cwd: str | None = None, mode: str | None = None
    ) -> PermissionCheckPublic:
        body = {
            k: v
            for k, v in {"tool": tool, "input": tool_input or {}, "cwd": cwd, "mode": mode}.items()
            if v is not None
        }
        return await self._call("POST", "/permissions/check", PermissionCheckPublic, json_body=body)

    @operation("GET", "/audit")
    async def audit(self, *, after: str = "", limit: int = 100) -> AuditPublic:
        return await self._call("GET", "/audit", AuditPublic, params={"after": after or None, "limit": limit})

    @operation("GET", "/users")
    async def list_users(self) -> UsersPublic:
        return await self._call("GET", "/users", UsersPublic)

    @operation("POST", "/users")
    async def create_user(self, name: str, role: Literal["admin", "member", "reviewer"]) -> UserPublic:
        return await self._call("POST", "/users", UserPublic, json_body={"name": name, "role": role})

    @operation("GET", "/keys")
    async def list_keys(self) -> KeysPublic:
        return await self._call("GET", "/keys", KeysPublic)

    @operation("POST", "/keys")
    async def create_key(self, user_id: str, name: str, scopes: list[str] | None = None) -> KeyCreated:
        body: dict[str, Any] = {"user_id": user_id, "name": name}
        if scopes is not None:
            body["scopes"] = scopes
        return await self._call("POST", "/keys", KeyCreated, json_body=body)

    @operation("DELETE", "/keys/{key_id}")
    async def revoke_key(self, key_id: str) -> KeyPublic:
        return await self._call("DELETE", f"/keys/{key_id}", KeyPublic)


def operations() -> dict[str, tuple[str, str]]:
    """Client method name -> (HTTP method, path template), for the OpenAPI drift test."""
    out: dict[str, tuple[str, str]] = {}
    for name in dir(DexaClient):
        tag = getattr(getattr(DexaClient, name), "__dexa_operation__", None)
        if tag is not None:
            out[name] = tag
    return out
