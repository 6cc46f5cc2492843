"""Wiring for one session: every MCP source it may use, behind the staging gate, as Dexa tools.

The lead calls `build_integrations(...)` once per runtime and `mcp_tools_for_session(...)` from the env factory.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dexa.adapters.mcp.config import ConfigProblem, OrgMcpPolicy, ServerConfig, is_platform_secret, resolve_servers
from dexa.adapters.mcp.lazy import LOADED_NAMESPACE, source_tools_mode
from dexa.adapters.mcp.manager import McpManager
from dexa.adapters.mcp.names import McpLimits
from dexa.adapters.mcp.transports import CommandWrapper, HeadersProvider
from dexa.core.events import EventType
from dexa.core.ports import KeyValueStore
from dexa.core.session import Session
from dexa.core.tools import Tool, ToolRegistry

from .managed import ManagedServers
from .oauth import OAuthService
from .outputs.connections import ReconnectingRoute
from .outputs.executor import LiveSessions, RoutingExecutor, result_dict
from .outputs.gate import StagingGate
from .outputs.links import ApprovalLinks
from .outputs.models import PendingOutput
from .outputs.queue import OutputQueue, SessionEmit
from .providers.demo import DemoCompany
from .registry import IntegrationRegistry
from .vault import SecretVault

logger = logging.getLogger(__name__)

SessionEventFn = Callable[[str, Mapping[str, Any]], Awaitable[None]]
# Sessions wired without an Integrations bundle still register here, so their staged outputs can be executed.
LIVE_SESSIONS = LiveSessions()


@dataclass(slots=True, kw_only=True)
class Integrations:
    """Everything the control plane needs for integrations; built once per runtime."""

    registry: IntegrationRegistry
    managed: ManagedServers
    queue: OutputQueue
    live: LiveSessions
    oauth: OAuthService | None = None
    links: ApprovalLinks | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def build_integrations(
    kv: KeyValueStore,
    vault: SecretVault,
    *,
    redirect_uri: str = "http://127.0.0.1:8765/oauth/callback",
    emit: SessionEmit | None = None,
    demo: DemoCompany | None = None,
    link_secret: bytes | Sequence[bytes] | None = None,
    base_url: str = "http://127.0.0.1:8765",
    oauth_http_options: Mapping[str, Any] | None = None,
    demo_path: Path | None = None,
) -> Integrations:
    """`emit(session_id, type, data)` appends to a session's event log (e.g. `TurnEngine.emit`)."""
    oauth = OAuthService(kv, vault, redirect_uri=redirect_uri, http_options=oauth_http_options)
    registry = IntegrationRegistry(kv, vault, oauth)
    managed = ManagedServers(registry, oauth, demo=demo, demo_path=demo_path)
    live = LiveSessions()
    executor = RoutingExecutor()

    def managed_route(output: PendingOutput) -> Any:
        if output.integration_id is None:
            return None

        async def call(tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
            fn = await managed.control_call(output.org_id, output.server, output.requested_by or None)
            if fn is None:
                return result_dict(f"integration for {output.server} is not connected", is_error=True)
            return await fn(tool, arguments)

        return call

    # The session's own servers are reconnected from the definition kept with the output (in this loop, after the
    # session ended too); a live session's connection is the last resort (SDK-hosted servers live only there).
    reconnect = ReconnectingRoute(vault)
    executor.add_fallback(managed_route)
    executor.add_fallback(reconnect.resolver)
    executor.add_fallback(live.resolver)
    queue = OutputQueue(kv, executor, emit=emit, vault=vault)
    links = ApprovalLinks(link_secret, base_url=base_url, kv=kv) if link_secret else None
    return Integrations(
        registry=registry,
        managed=managed,
        queue=queue,
        live=live,
        oauth=oauth,
        links=links,
        extra={"reconnect": reconnect},
    )


def platform_secret_values(env: Mapping[str, str]) -> list[str]:
    return [v for k, v in env.items() if is_platform_secret(k) and len(v) >= 8]


async def mcp_tools_for_session(
    session: Session,
    *,
    config_files: Sequence[str] = (),
    strict: bool = False,
    org_servers: OrgMcpPolicy | Mapping[str, Any] | None = None,
    sandbox_wrapper: CommandWrapper | None = None,
    emit: SessionEventFn | None = None,
    integrations: Integrations | None = None,
    kv: KeyValueStore | None = None,
    env: Mapping[str, str] | None = None,
    home: Path | None = None,
    lazy: bool = True,
    registry: ToolRegistry | None = None,
    project_servers: bool = True,
    project_env: Mapping[str, str] | None = None,
    output_policy_layers: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[list[Tool], McpManager]:
    """The MCP tools of one session and the manager that owns their connections (call `manager.aclose()`).

    Servers: org policy servers, `--mcp-config` files (only those with `strict`), `~/.claude.json` and the
    project's `.mcp.json`, plus the org's connected integrations. Bad config never raises: each problem becomes a
    `config.error` event. `emit(type, data)` is bound to the session's event log. `output_policy_layers` are
    the settings files' dexa.outputPolicy per level (EffectiveSettings.dexa.output_policy_layers).
    """
    env = dict(os.environ if env is None else env)
    org = org_servers if isinstance(org_servers, OrgMcpPolicy) else OrgMcpPolicy(servers=dict(org_servers or {}))
    resolved = resolve_servers(
        project_dir=session.cwd,
        config_files=config_files,
        strict=strict,
        org=org,
        env=env,
        home=home,
        project_servers=project_servers,
        project_env=project_env,
    )
    problems: list[ConfigProblem] = list(resolved.problems)
    servers: dict[str, ServerConfig] = {s.name: s for s in resolved.servers}
    if integrations is not None:
        for server in await integrations.managed.session_servers(session.org_id, session.user_id):
            if server.name in servers:
                problems.append(
                    ConfigProblem(
                        file=servers[server.name].source,
                        key=f"mcpServers.{server.name}",
                        message="shadowed by the organisation's integration of the same name",
                    )
                )
            servers[server.name] = server
    live = integrations.live if integrations is not None else LIVE_SESSIONS
    queue = integrations.queue if integrations is not None else None
    executor = RoutingExecutor()
    executor.add_fallback(live.resolver)
    gate = StagingGate(queue, executor=executor, kv=kv, settings_layers=output_policy_layers)
    gate.requested_by = session.user_id
    headers: HeadersProvider | None = None
    if integrations is not None:
        managed = integrations.managed

        async def integration_headers(server: ServerConfig) -> Mapping[str, str]:
            return await managed.headers(session.org_id, server, session.user_id)

        headers = integration_headers

    async def unconnected() -> list[dict[str, Any]]:
        if integrations is None:
            return []
        return await integrations.registry.unconnected(session.org_id, session.user_id)

    manager = McpManager(
        [replace(s, cwd=s.cwd or session.cwd) if s.transport == "stdio" else s for s in servers.values()],
        emit=emit,
        wrapper=sandbox_wrapper,
        headers_provider=headers,
        gate=gate,
        limits=McpLimits.from_env(env),
        base_env=env,
        platform_secrets=platform_secret_values(env),
        problems=problems,
        unconnected=unconnected if integrations is not None else None,
    )
    gate.lookup = _lookup(manager)
    gate.servers = lambda name: manager.connection(name).server if manager.has_server(name) else None
    live.register(session.id, _direct_call(manager))
    manager.on_close.append(lambda: live.unregister(session.id))
    preloaded: list[str] = []
    store = kv
    if store is not None:
        doc = await store.kv_get(LOADED_NAMESPACE, session.id, org_id=session.org_id) or {}
        preloaded = [s for s in doc.get("sources", []) if manager.has_server(s)]
    if emit is not None:
        for problem in problems:
            await emit(EventType.CONFIG_ERROR, problem.to_dict())
    lazy_mode, lazy_scopes = source_tools_mode(env)
    tools = await manager.initial_tools(lazy=lazy and lazy_mode, preloaded=preloaded, lazy_scopes=lazy_scopes)
    if registry is not None:
        manager.attach(registry)
    return tools, manager


def _direct_call(manager: McpManager) -> Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any]]]:
    """Executes an approved output on the session's own connection (bypassing the gate, by design)."""

    async def call(server: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        result = await manager.connection(server).call_tool(tool, arguments, timeout_s=manager.limits.tool_timeout_s)
        texts = [getattr(b, "text", "") for b in result.content]
        return result_dict(
            "\n".join(t for t in texts if t), is_error=bool(result.is_error), structured=result.structured_content
        )

    return call


def _lookup(manager: McpManager) -> Callable[[str, str, dict[str, Any]], Awaitable[Mapping[str, Any] | None]]:
    async def lookup(server: str, tool: str, arguments: dict[str, Any]) -> Mapping[str, Any] | None:
        result = await manager.connection(server).call_tool(tool, arguments, timeout_s=30.0)
        if result.is_error or not isinstance(result.structured_content, dict):
            return None
        return result.structured_content  # pyright: ignore[reportUnknownVariableType]

    return lookup
