"""MCP client adapter on the `mcp` 2.x SDK: config, connections, tools, lazy loading, sandboxed stdio servers.

Names are exported lazily so importing `dexa.adapters.mcp` does not import the SDK until something is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dexa.core.lazy import lazy_exports

if TYPE_CHECKING:
    from .config import OrgMcpPolicy, ServerConfig, resolve_servers
    from .connection import McpConnection, ServerUnavailableError
    from .gate import CallGate, McpCall, ToolHints
    from .manager import McpManager
    from .names import McpLimits, tool_name
    from .sandbox import bwrap_wrapper
    from .transports import CommandWrapper, StdioLaunch

_EXPORTS: dict[str, str] = {
    "OrgMcpPolicy": ".config",
    "ServerConfig": ".config",
    "resolve_servers": ".config",
    "McpConnection": ".connection",
    "ServerUnavailableError": ".connection",
    "CallGate": ".gate",
    "McpCall": ".gate",
    "ToolHints": ".gate",
    "McpManager": ".manager",
    "McpLimits": ".names",
    "tool_name": ".names",
    "bwrap_wrapper": ".sandbox",
    "CommandWrapper": ".transports",
    "StdioLaunch": ".transports",
}


__getattr__ = lazy_exports(__name__, _EXPORTS)


__all__ = [
    "CallGate",
    "CommandWrapper",
    "McpCall",
    "McpConnection",
    "McpLimits",
    "McpManager",
    "OrgMcpPolicy",
    "ServerConfig",
    "ServerUnavailableError",
    "StdioLaunch",
    "ToolHints",
    "bwrap_wrapper",
    "resolve_servers",
    "tool_name",
]
