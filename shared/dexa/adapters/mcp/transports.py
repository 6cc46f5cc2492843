"""Building the SDK transport for one server: stdio (optionally sandboxed), streamable HTTP, SSE, in-process."""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import IO, Any, TextIO, cast

import httpx2
from mcp import StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from dexa.core.errors import ConfigError

from .config import ServerConfig, is_platform_secret

logger = logging.getLogger(__name__)

# What a stdio server inherits from Dexa's own environment: enough to find binaries, nothing secret.
INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TERM", "TZ", "USER", "LOGNAME", "SHELL")


@dataclass(frozen=True, slots=True, kw_only=True)
class StdioLaunch:
    """How a stdio server process is started. A CommandWrapper rewrites it (e.g. to run under bwrap)."""

    command: str
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None


CommandWrapper = Callable[[StdioLaunch, ServerConfig], StdioLaunch]
# Returns extra HTTP headers (e.g. a bearer from the vault) for a remote server; called at each (re)connect.
HeadersProvider = Callable[[ServerConfig], Awaitable[Mapping[str, str]]]


def server_env(
    server: ServerConfig, base: Mapping[str, str], platform_secrets: frozenset[str] = frozenset()
) -> dict[str, str]:
    """The server's environment: a few inherited basics plus its configured env, minus platform credentials."""
    env = {k: base[k] for k in INHERITED_ENV if k in base}
    for key, value in server.env.items():
        if is_platform_secret(key) or (value and value in platform_secrets):
            logger.warning(
                "MCP server %s: dropped env %s (platform credentials never reach MCP servers)", server.name, key
            )
            continue
        env[key] = value
    return env


def stdio_launch(
    server: ServerConfig, *, base_env: Mapping[str, str] | None = None, platform_secrets: frozenset[str] = frozenset()
) -> StdioLaunch:
    base = os.environ if base_env is None else base_env
    return StdioLaunch(
        command=server.command, args=server.args, env=server_env(server, base, platform_secrets), cwd=server.cwd
    )


async def open_transport(
    server: ServerConfig,
    stack: AsyncExitStack,
    *,
    wrapper: CommandWrapper | None = None,
    headers_provider: HeadersProvider | None = None,
    errlog: IO[str] | None = None,
    base_env: Mapping[str, str] | None = None,
    platform_secrets: frozenset[str] = frozenset(),
) -> Any:
    """What `mcp.Client(...)` should connect to. Resources that must outlive the call are entered on `stack`.

    Raises:
        ConfigError: the server entry cannot be launched as configured.
    """
    if server.transport == "inproc":
        if server.server_object is None:
            raise ConfigError(f"MCP server {server.name}: in-process server has no server object")
        return server.server_object
    if server.transport == "stdio":
        launch = stdio_launch(server, base_env=base_env, platform_secrets=platform_secrets)
        if wrapper is not None:
            launch = wrapper(launch, server)
        params = StdioServerParameters(command=launch.command, args=list(launch.args), env=launch.env, cwd=launch.cwd)
        # The SDK merges its own small default env (PATH, HOME, ...) under ours; it carries no secrets.
        return stdio_client(params, errlog=cast(TextIO, errlog)) if errlog is not None else stdio_client(params)
    headers = dict(server.headers)
    if headers_provider is not None:
        headers.update(await headers_provider(server))
    if server.transport == "http":
        client = await stack.enter_async_context(
            httpx2.AsyncClient(headers=headers, auth=server.http_auth, timeout=httpx2.Timeout(30.0, read=300.0))
        )
        return streamable_http_client(server.url, http_client=client)
    if server.transport == "sse":
        return sse_client(server.url, headers=headers, timeout=30.0, sse_read_timeout=300.0, auth=server.http_auth)
    raise ConfigError(f"MCP server {server.name}: unsupported transport {server.transport!r}")
