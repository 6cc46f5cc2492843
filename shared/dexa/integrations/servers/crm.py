"""Managed CRM server (HubSpot / Salesforce / demo). Every write is staged by default."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from dexa.integrations.providers.base import CrmProvider

from .base import DESTRUCTIVE_WRITE, PRIVATE_WRITE, READ, Mode, call, guard, new_server

_DEAL_FIELDS = frozenset({"stage", "amount", "close_date", "name", "next_step"})


def build_crm_server(provider: CrmProvider, *, mode: Mode = "agent") -> MCPServer:
    mcp = new_server("crm", "CRM: contacts and deals. Updates, notes and tasks are staged for a human to approve.")

    @mcp.tool(annotations=READ)
    async def search_contacts(query: str, limit: int = 20) -> dict[str, Any]:
        """Find contacts by name, email or company."""
        return {"contacts": await call(lambda: provider.search_contacts(query, limit=min(limit, 100)))}

    @mcp.tool(annotations=READ)
    async def get_contact(contact_id: str) -> dict[str, Any]:
        """One contact with company, owner and deal ids."""
        return await call(lambda: provider.get_contact(contact_id))

    @mcp.tool(annotations=READ)
    async def get_deal(deal_id: str) -> dict[str, Any]:
        """One deal: stage, amount, close date, contacts."""
        return await call(lambda: provider.get_deal(deal_id))

    @mcp.tool(annotations=DESTRUCTIVE_WRITE)
    async def update_deal(deal_id: str, properties: dict[str, str | float]) -> dict[str, Any]:
        """Change deal fields: stage, amount, close_date, name, next_step (staged)."""
        unknown = sorted(set(properties) - _DEAL_FIELDS)
        if unknown:
            raise ToolError(f"unknown deal field(s) {unknown}; allowed: {sorted(_DEAL_FIELDS)}")
        guard("crm", mode, "update_deal", {"deal_id": deal_id, "properties": properties})
        return await call(lambda: provider.update_deal(deal_id, dict(properties)))

    @mcp.tool(annotations=PRIVATE_WRITE)
    async def create_note(contact_id: str, body: str) -> dict[str, Any]:
        """Log a note on a contact (staged)."""
        guard("crm", mode, "create_note", {"contact_id": contact_id, "body": body})
        return await call(lambda: provider.create_note(contact_id, body))

    @mcp.tool(annotations=PRIVATE_WRITE)
    async def create_task(contact_id: str, subject: str, due: str | None = None) -> dict[str, Any]:
        """Create a follow-up task on a contact; due is an ISO date (staged)."""
        guard("crm", mode, "create_task", {"contact_id": contact_id, "subject": subject})
        return await call(lambda: provider.create_task(contact_id, subject, due))

    return mcp
