"""Managed chat server (Slack / demo). Posting is staged."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer

from dexa.integrations.providers.base import ChatProvider

from .base import EXTERNAL_WRITE, READ, Mode, call, guard, new_server


def build_chat_server(provider: ChatProvider, *, mode: Mode = "agent") -> MCPServer:
    mcp = new_server("chat", "Team chat: read channels and threads. Posting is staged for a human to approve.")

    @mcp.tool(annotations=READ)
    async def read_channel(channel: str, limit: int = 50) -> dict[str, Any]:
        """Recent messages of a channel (name like #support or an id)."""
        return {"messages": await call(lambda: provider.read_channel(channel, limit=min(limit, 200)))}

    @mcp.tool(annotations=READ)
    async def read_thread(channel: str, thread_ts: str) -> dict[str, Any]:
        """All replies of one thread."""
        return {"messages": await call(lambda: provider.read_thread(channel, thread_ts))}

    @mcp.tool(annotations=EXTERNAL_WRITE)
    async def send_message(channel: str, text: str, thread_ts: str | None = None) -> dict[str, Any]:
        """Post to a channel or thread (staged)."""
        guard("chat", mode, "send_message", {"channel": channel, "text": text})
        return await call(lambda: provider.send_message(channel, text, thread_ts=thread_ts))

    return mcp
