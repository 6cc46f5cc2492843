"""Managed tickets server (Zendesk / Linear / Jira / demo). New tickets and public comments are staged."""

from __future__ import annotations

from typing import Any, Literal

from mcp.server.mcpserver import MCPServer

from dexa.integrations.providers.base import TicketsProvider

from .base import EXTERNAL_WRITE, PRIVATE_WRITE, READ, Mode, call, guard, new_server


def build_tickets_server(provider: TicketsProvider, *, mode: Mode = "agent") -> MCPServer:
    mcp = new_server(
        "tickets",
        "Support tickets and issues: search, read, file, comment. New tickets and public "
        "comments (which email the requester) are staged for a human to approve.",
    )

    @mcp.tool(annotations=READ)
    async def search_tickets(query: str, limit: int = 25) -> dict[str, Any]:
        """Search tickets (e.g. 'status:open crash')."""
        return {"tickets": await call(lambda: provider.search_tickets(query, limit=min(limit, 100)))}

    @mcp.tool(annotations=READ)
    async def get_ticket(ticket_id: str) -> dict[str, Any]:
        """One ticket with its comments."""
        return await call(lambda: provider.get_ticket(ticket_id))

    @mcp.tool(annotations=PRIVATE_WRITE)
    async def create_ticket(
        subject: str,
        body: str,
        requester: str | None = None,
        priority: Literal["low", "normal", "high", "urgent"] | None = None,
    ) -> dict[str, Any]:
        """File a new ticket or issue (staged)."""
        guard("tickets", mode, "create_ticket", {"subject": subject})
        return await call(
            lambda: provider.create_ticket(subject=subject, body=body, requester=requester, priority=priority)
        )

    @mcp.tool(annotations=EXTERNAL_WRITE)
    async def add_comment(ticket_id: str, body: str, public: bool = False) -> dict[str, Any]:
        """Comment on a ticket. public=true emails the requester (staged); internal notes run directly."""
        guard("tickets", mode, "add_comment", {"ticket_id": ticket_id, "public": public})
        return await call(lambda: provider.add_comment(ticket_id, body, public=public))

    return mcp
