"""An org's integrations as MCP servers: agent-mode servers for sessions, control-plane calls for approvals.

Each OAuth integration acts with one grant per user the session acts for (the org's or the user's own, by the
integration's `grants` policy, see grants.py); providers and servers are therefore kept per grant owner, and an
approved output's result says whose grant executed it (`grant_owner`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
from mcp import Client, MCPError

from dexa.adapters.mcp.config import ServerConfig
from dexa.adapters.mcp.connection import McpConnection
from dexa.core.errors import ConfigError, DexaError, ToolError

from .catalogue import CATALOGUE
from .database.provider import VaultDatabase
from .grants import ORG
from .oauth import OAuthService
from .outputs.executor import CallFn, result_dict
from .outputs.models import PendingOutput
from .providers.demo import DemoCompany
from .providers.google import CALENDAR_API, GMAIL_API, GmailProvider, GoogleCalendarProvider
from .providers.http import RestClient, TokenFn
from .providers.hubspot import HUBSPOT_API, HubSpotProvider
from .providers.microsoft import OutlookCalendarProvider, OutlookMailProvider, graph_rest
from .providers.slack import SLACK_API, SlackProvider
from .providers.zendesk import ZendeskProvider, zendesk_api
from .providers.zendesk import basic_user as zendesk_basic_user
from .registry import IntegrationRegistry
from .servers import Mode, build_server

logger = logging.getLogger(__name__)


class ManagedServers:
    def __init__(
        self,
        registry: IntegrationRegistry,
        oauth: OAuthService | None = None,
        *,
        demo: DemoCompany | None = None,
        http: httpx.AsyncClient | None = None,
        demo_path: str | Path | None = None,
    ) -> None:
        self.registry = registry
        self.oauth = oauth
        self.demo = demo
        # The demo company lives in a file under DEXA_HOME, so approvals after a restart act on the same data.
        self.demo_path = demo_path
        self.http = http
        # Keyed by grant owner too: a provider holds the token function of exactly one grant.
        self._providers: dict[tuple[str, str, str], tuple[str, Any]] = {}
        # Servers are stateless over their provider; building one costs ~40 ms of schema work, so reuse them.
        self._servers: dict[tuple[str, str, str, str], Any] = {}

    def server(self, org_id: str, name: str, kind: str, provider: Any, mode: Mode, owner: str = ORG) -> Any:
        key = (org_id, name, mode, owner)
        if key not in self._servers:
            self._servers[key] = build_server(kind, provider, mode=mode)
        return self._servers[key]

    # ------------------------------------------------------------ providers

    def _token(self, org_id: str, record: Mapping[str, Any], owner: str = ORG) -> TokenFn:
        async def token() -> str:
            if (record.get("auth") or CATALOGUE[record["provider"]].auth) == "oauth":
                if self.oauth is None:
                    raise ConfigError("OAuth is not configured")
                return await self.oauth.access_token(org_id, record["id"], owner)
            key = await self.registry.secret(org_id, record["id"], "api_key")
            if not key:
                raise ConfigError(f"integration {record['name']} has no API key")
            return key

        return token

    def _provider(self, org_id: str, record: Mapping[str, Any], owner: str = ORG) -> dict[str, tuple[str, Any]]:
        """{server name: (server kind, provider)} for one managed integration, acting with `owner`'s grant."""
        pid = record["provider"]
        if pid == "demo":
            if self.demo is None:
                self.demo = DemoCompany(self.demo_path or ":memory:")
            demo = self.demo
            return {k: (k, getattr(demo, k)) for k in CATALOGUE["demo"].kinds}
        if CATALOGUE[pid].managed == "database":
            return {record["name"]: ("database", VaultDatabase(self.registry, org_id, record))}
        token = self._token(org_id, record, owner)
        rest: dict[str, tuple[str, Any]] = {
            "google_calendar": (
                "calendar",
                lambda: GoogleCalendarProvider(
                    RestClient(CALENDAR_API, token, vendor="Google Calendar", http=self.http)
                ),
            ),
            "gmail": ("email", lambda: GmailProvider(RestClient(GMAIL_API, token, vendor="Gmail", http=self.http))),
            "outlook_calendar": (
                "calendar",
                lambda: OutlookCalendarProvider(graph_rest(token, http=self.http, vendor="Outlook Calendar")),
            ),
            "outlook": ("email", lambda: OutlookMailProvider(graph_rest(token, http=self.http, vendor="Outlook"))),
            "hubspot": (
                "crm",
                lambda: HubSpotProvider(RestClient(HUBSPOT_API, token, vendor="HubSpot", http=self.http)),
            ),
            "slack": ("chat", lambda: SlackProvider(RestClient(SLACK_API, token, vendor="Slack", http=self.http))),
            "zendesk": (
                "tickets",
                lambda: ZendeskProvider(
                    RestClient(
                        zendesk_api(str(record["config"].get("subdomain", ""))),
                        token,
                        vendor="Zendesk",
                        http=self.http,
                        basic_user=zendesk_basic_user(record["config"]),
                    )
                ),
            ),
        }
        if pid not in rest:
            raise ConfigError(f"{pid} has no managed provider")
        kind, make = rest[pid]
        return {record["name"]: (kind, make())}

    async def _usable(self, org_id: str, record: Mapping[str, Any], user_id: str | None) -> str | None:
        """Whose grant a session acting for `user_id` uses with this integration; None: it cannot use it (not
        connected, or the policy leaves this user without a grant)."""
        owner = await self.registry.grant_owner(org_id, record, user_id)
        if owner is None:
            return None
        if (record.get("auth") or CATALOGUE[record["provider"]].auth) == "oauth":
            return owner  # a stored grant is the connection, whatever the org-wide status says
        return owner if record["status"] in ("connected", "needs_reauth") else None

    async def _owned_providers(self, org_id: str, user_id: str | None) -> dict[str, tuple[str, Any, str]]:
        out: dict[str, tuple[str, Any, str]] = {}
        for record in await self.registry.list(org_id):
            if record["mode"] != "managed":
                continue
            owner = await self._usable(org_id, record, user_id)
            if owner is None:
                continue
            for name, value in self._provider(org_id, record, owner).items():
                kind, provider = self._providers.setdefault((org_id, name, owner), value)
                out[name] = (kind, provider, owner)
        return out

    async def providers(self, org_id: str, user_id: str | None = None) -> dict[str, tuple[str, Any]]:
        """{server name: (kind, provider)} of the managed integrations a session acting for `user_id` may use."""
        return {name: (kind, p) for name, (kind, p, _) in (await self._owned_providers(org_id, user_id)).items()}

    # ------------------------------------------------------------ session side

    async def session_servers(self, org_id: str, user_id: str | None = None) -> list[ServerConfig]:
        """Every integration a session acting for `user_id` may use, as a server (managed ones in agent mode), each
        with the grant its policy picks for that user."""
        servers: list[ServerConfig] = []
        records = {r["name"]: r for r in await self.registry.list(org_id)}
        for name, (kind, provider, owner) in (await self._owned_providers(org_id, user_id)).items():
            record = records.get(name) or next(r for r in records.values() if r["provider"] == "demo")
            servers.append(
                ServerConfig(
                    name=name,
                    transport="inproc",
                    scope="managed",
                    kind=kind,
                    trusted=True,
                    always_load=False,
                    integration_id=record["id"],
                    description=CATALOGUE[record["provider"]].description
                    if record["provider"] != "demo"
                    else f"{kind} (demo company)",
                    server_object=self.server(org_id, name, kind, provider, "agent", owner),
                )
            )
        for record in records.values():
            if record["mode"] != "remote":
                continue
            owner = await self._usable(org_id, record, user_id)
            if owner is None:
                continue
            info = CATALOGUE[record["provider"]]
            servers.append(
                ServerConfig(
                    name=record["name"],
                    transport=record.get("transport", "http"),
                    url=record["url"],
                    scope="integration",
                    trusted=False,
                    trusted_reads=bool(record.get("trusted_reads")),
                    integration_id=record["id"],
                    description=info.description,
                    kind="",
                    http_auth=self._remote_auth(org_id, record, owner),
                )
            )
        return servers

    def _remote_auth(self, org_id: str, record: Mapping[str, Any], owner: str = ORG) -> Any:
        """The SDK's OAuth provider over the org's grant: the control plane's connection adds and refreshes the
        bearer per request, so a token that expires mid-session is refreshed without the session noticing."""
        remote = self.registry.remote
        if remote is None or (record.get("auth") or CATALOGUE[record["provider"]].auth) != "oauth":
            return None
        return remote.auth_for(org_id, record["id"], record["url"], name=record["name"], owner=owner)

    async def headers(self, org_id: str, server: ServerConfig, user_id: str | None = None) -> dict[str, str]:
        """Auth headers for a remote integration server, injected by the runtime (never given to a sandbox)."""
        if server.integration_id is None:
            return {}
        record = await self.registry.record(org_id, server.integration_id)
        owner = await self.registry.grant_owner(org_id, record, user_id) or ORG
        info = CATALOGUE[record["provider"]]
        headers: dict[str, str] = {}
        raw = (
            await self.registry.secret(org_id, record["id"], "headers")
            if "headers" in record.get("secret_keys", [])
            else None
        )
        if raw:
            headers.update(json.loads(raw))
        if (record.get("auth") or info.auth) == "oauth" and record["mode"] == "remote":
            pass  # the ServerConfig's http_auth carries the grant (see _remote_auth)
        elif (record.get("auth") or info.auth) == "oauth" and self.oauth is not None:
            headers["Authorization"] = f"Bearer {await self.oauth.access_token(org_id, record['id'], owner)}"
        elif "api_key" in record.get("secret_keys", []):
            headers["Authorization"] = f"Bearer {await self.registry.secret(org_id, record['id'], 'api_key')}"
        return headers

    # ------------------------------------------------------------ control plane side

    async def control_call(self, org_id: str, server: str, user_id: str | None = None) -> CallFn | None:
        """How the control plane performs an approved call on one of the org's servers, with the grant the
        integration's policy picks for `user_id` (who the session acted for, not the reviewer). The call's result
        carries `grant_owner`, for the ledger."""
        providers = await self._owned_providers(org_id, user_id)
        if server in providers:
            kind, provider, owner = providers[server]
            return _owned(_inproc_call(kind, self.server(org_id, server, kind, provider, "control", owner)), owner)
        records = {r["name"]: r for r in await self.registry.list(org_id)}
        for config in await self.session_servers(org_id, user_id):
            if config.name == server and config.transport != "inproc":
                owner = await self.registry.grant_owner(org_id, records[server], user_id) or ORG
                return _owned(_remote_call(config, self, org_id, user_id), owner)
        return None

    async def execute(self, output: PendingOutput, arguments: dict[str, Any]) -> dict[str, Any]:
        """OutputExecutor for managed and integration servers."""
        call = await self.control_call(output.org_id, output.server, output.requested_by or None)
        if call is None:
            raise ToolError(f"the integration serving {output.server!r} is no longer connected in this org")
        result = await call(output.tool, arguments)
        if result.get("is_error"):
            raise ToolError(f"{output.server}.{output.tool} failed: {result.get('content', '')}")
        return result


def _render(result: Any) -> dict[str, Any]:
    texts = [getattr(b, "text", "") for b in result.content]
    return result_dict(
        "\n".join(t for t in texts if t), is_error=bool(result.is_error), structured=result.structured_content
    )


def _inproc_call(kind: str, server: Any) -> CallFn:
    async def call(tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        try:
            async with Client(server) as client:
                return _render(await client.call_tool(tool, arguments))
        except MCPError as exc:
            raise ToolError(f"{kind}.{tool}: {exc.error.message}") from exc

    return call


def _owned(call: CallFn, owner: str) -> CallFn:
    async def owned(tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        return {**await call(tool, arguments), "grant_owner": owner}

    return owned


def _remote_call(config: ServerConfig, managed: ManagedServers, org_id: str, user_id: str | None = None) -> CallFn:
    async def call(tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        async def headers(server: ServerConfig) -> dict[str, str]:
            return await managed.headers(org_id, server, user_id)

        conn = McpConnection(config, headers_provider=headers)
        try:
            return _render(await conn.call_tool(tool, arguments, timeout_s=120.0))
        except DexaError:
            raise
        finally:
            await conn.aclose()

    return call
