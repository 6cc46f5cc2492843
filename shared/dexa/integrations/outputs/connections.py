"""How the control plane reaches a third-party MCP server again, to execute an approved output.

The session that staged a call may have ended (or the server restarted) by the time a reviewer approves it, and its
live connection belongs to another event loop anyway. So staging keeps the server's connection definition with the
output, and execution opens a fresh connection from it, in the executing code's own loop, then closes it.

Secret values never sit in the output document: a stdio server's env and an HTTP server's headers (tokens, after
`${VAR}` expansion) go to the vault under `output_connection/<org>/<output>`; the document keeps only their names.
Project stdio servers start under the same sandbox rule as in the session (`Launcher`), never bare on the control
plane; managed and integration servers are not described here (the control plane has its own route to them).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from dexa.adapters.mcp.config import ServerConfig
from dexa.adapters.mcp.connection import McpConnection
from dexa.adapters.mcp.transports import CommandWrapper
from dexa.core.errors import ConfigError, ToolError

from .executor import CallFn, result_dict
from .models import PendingOutput

logger = logging.getLogger(__name__)

VAULT_PREFIX = "output_connection"
# Connections that are not the session's own: the control plane already holds them (dexa.integrations.managed).
_CONTROL_PLANE_SCOPES = frozenset({"integration", "managed"})
EXECUTE_TIMEOUT_S = 300.0

# (output) -> the wrapper that starts its stdio server in the session's workspace sandbox; None = no sandbox here.
Launcher = Callable[[PendingOutput], Awaitable[CommandWrapper | None]]


def vault_key(org_id: str, output_id: str) -> str:
    return f"{VAULT_PREFIX}/{org_id}/{output_id}"


def describable(server: ServerConfig) -> bool:
    """A server the control plane must reconnect to from a stored definition (the session's own servers)."""
    return server.transport in ("stdio", "http", "sse") and server.scope not in _CONTROL_PLANE_SCOPES


def describe(server: ServerConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """(public definition for the output document, secret part for the vault)."""
    public = {
        "name": server.name,
        "transport": server.transport,
        "scope": server.scope,
        "command": server.command,
        "args": list(server.args),
        "cwd": server.cwd,
        "url": server.url,
        "timeout_s": server.timeout_s,
        "env_keys": sorted(server.env),
        "header_keys": sorted(server.headers),
        "source": server.source,
    }
    return public, {"env": dict(server.env), "headers": dict(server.headers)}


async def save(vault: Any, org_id: str, output_id: str, secret: Mapping[str, Any]) -> None:
    if secret.get("env") or secret.get("headers"):
        await vault.put(vault_key(org_id, output_id), json.dumps(dict(secret)))


async def load(vault: Any, output: PendingOutput) -> ServerConfig:
    """The ServerConfig to reconnect with. Raises ConfigError when the definition (or its secrets) is gone."""
    public = output.connection or {}
    if not public.get("transport"):
        raise ConfigError(f"output {output.id} has no stored connection for MCP server {output.server!r}")
    secret: dict[str, Any] = {}
    if public.get("env_keys") or public.get("header_keys"):
        raw = await vault.get(vault_key(output.org_id, output.id)) if vault is not None else None
        if raw is None:
            raise ConfigError(
                f"output {output.id}: the credentials of MCP server {output.server!r} are no longer in the vault"
            )
        secret = json.loads(raw)
    return ServerConfig(
        name=str(public["name"]),
        transport=public["transport"],
        scope=public.get("scope") or "project",
        command=str(public.get("command") or ""),
        args=tuple(str(a) for a in public.get("args") or ()),
        env={str(k): str(v) for k, v in (secret.get("env") or {}).items()},
        cwd=public.get("cwd"),
        url=str(public.get("url") or ""),
        headers={str(k): str(v) for k, v in (secret.get("headers") or {}).items()},
        timeout_s=public.get("timeout_s"),
        source=str(public.get("source") or ""),
    )


class ReconnectingRoute:
    """A RoutingExecutor fallback: outputs with a stored connection run on a fresh connection, opened here."""

    def __init__(self, vault: Any, *, launcher: Launcher | None = None, base_env: Mapping[str, str] | None = None):
        self.vault = vault
        # Set by the runtime (dexa.runtime.output_delivery); without it stdio servers are refused, never run bare.
        self.launcher = launcher
        self.base_env = dict(base_env) if base_env is not None else None

    def resolver(self, output: PendingOutput) -> CallFn | None:
        if not output.connection:
            return None

        async def call(tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
            return await self._call(output, tool, arguments)

        return call

    async def _call(self, output: PendingOutput, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        server = await load(self.vault, output)
        wrapper: CommandWrapper | None = None
        if server.transport == "stdio":
            wrapper = await self.launcher(output) if self.launcher is not None else None
            if wrapper is None:
                raise ToolError(
                    f"cannot execute {output.server}.{tool}: its stdio server must run in the session's workspace "
                    "sandbox, and none is available to the control plane here"
                )
        conn = McpConnection(server, wrapper=wrapper, base_env=self.base_env)
        try:
            result = await conn.call_tool(tool, arguments, timeout_s=server.timeout_s or EXECUTE_TIMEOUT_S)
        finally:
            await conn.aclose()
        texts = [getattr(b, "text", "") for b in result.content]
        return result_dict(
            "\n".join(t for t in texts if t), is_error=bool(result.is_error), structured=result.structured_content
        )


async def forget(vault: Any, org_id: str, output_id: str) -> None:
    """Drop an executed output's credentials: nothing will reconnect for it again."""
    if vault is None:
        return
    try:
        await vault.delete(vault_key(org_id, output_id))
    except Exception:  # a stale vault entry costs nothing; the execution's record must not depend on it
        logger.exception("could not remove the stored connection of %s", output_id)
