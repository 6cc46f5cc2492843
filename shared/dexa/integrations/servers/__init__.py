"""Dexa's managed MCP servers, built with the SDK's MCPServer over a provider interface."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mcp.server.mcpserver import MCPServer

from .base import Mode
from .calendar import build_calendar_server
from .chat import build_chat_server
from .crm import build_crm_server
from .database import build_database_server
from .email import build_email_server
from .meetings import build_meetings_server
from .tickets import build_tickets_server

BUILDERS: dict[str, Callable[..., MCPServer]] = {
    "calendar": build_calendar_server,
    "email": build_email_server,
    "crm": build_crm_server,
    "chat": build_chat_server,
    "tickets": build_tickets_server,
    "meetings": build_meetings_server,
    "database": build_database_server,
}


def build_server(kind: str, provider: Any, *, mode: Mode = "agent") -> MCPServer:
    try:
        builder = BUILDERS[kind]
    except KeyError:
        raise ValueError(f"no managed server of kind {kind!r}; known: {sorted(BUILDERS)}") from None
    return builder(provider, mode=mode)


__all__ = ["BUILDERS", "Mode", "build_server"]
