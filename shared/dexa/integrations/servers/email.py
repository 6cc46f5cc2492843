"""Managed email server (Gmail / Outlook / demo). Drafts are private; only `send_draft` sends, and it is staged."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from dexa.integrations.providers.base import EmailProvider

from .base import EXTERNAL_WRITE, PRIVATE_WRITE, READ, Mode, call, guard, new_server


def build_email_server(provider: EmailProvider, *, mode: Mode = "agent") -> MCPServer:
    mcp = new_server(
        "email",
        "Email: search and read threads, write drafts. A draft is private until "
        "send_draft, which is staged for a human to approve.",
    )

    @mcp.tool(annotations=READ)
    async def get_profile() -> dict[str, Any]:
        """Whose mailbox this is (email, and name and time zone when known): drafts are sent as this person."""
        return await call(provider.profile)

    @mcp.tool(annotations=READ)
    async def search_threads(query: str, max_results: int = 10) -> dict[str, Any]:
        """Search mail threads (Gmail query syntax, e.g. 'from:ana@acme.com newer_than:7d')."""
        return {"threads": await call(lambda: provider.search_threads(query, max_results=min(max_results, 50)))}

    @mcp.tool(annotations=READ)
    async def get_thread(thread_id: str) -> dict[str, Any]:
        """A thread with all its messages."""
        return await call(lambda: provider.get_thread(thread_id))

    @mcp.tool(annotations=READ)
    async def get_draft(draft_id: str) -> dict[str, Any]:
        """One draft: recipients, subject and body."""
        return await call(lambda: provider.get_draft(draft_id))

    @mcp.tool(annotations=PRIVATE_WRITE)
    async def create_draft(
        to: list[str], subject: str, body: str, cc: list[str] | None = None, thread_id: str | None = None
    ) -> dict[str, Any]:
        """Write a draft (never sends). Pass thread_id to reply in a thread (the reply keeps its subject)."""
        if not to or any("@" not in addr for addr in to):
            raise ToolError("to must list at least one email address")
        guard("email", mode, "create_draft", {"to": to})
        return await call(
            lambda: provider.create_draft(to=to, subject=subject, body=body, cc=cc or [], thread_id=thread_id)
        )

    @mcp.tool(annotations=EXTERNAL_WRITE)
    async def send_draft(draft_id: str) -> dict[str, Any]:
        """Send a draft (staged for approval)."""
        guard("email", mode, "send_draft", {"draft_id": draft_id})
        return await call(lambda: provider.send_draft(draft_id))

    return mcp
