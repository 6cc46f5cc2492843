"""Zendesk Support API v2 provider. `comment.public=true` emails the requester, so it is always staged."""

from __future__ import annotations

from typing import Any

from .base import Doc
from .http import RestClient


def zendesk_api(subdomain: str) -> str:
    return f"https://{subdomain}.zendesk.com/api/v2"


def normalize_ticket(raw: dict[str, Any]) -> Doc:
    return {
        "id": str(raw["id"]),
        "subject": raw.get("subject") or "",
        "status": raw.get("status") or "",
        "priority": raw.get("priority") or "",
        "requester": str(raw.get("requester_id") or ""),
        "description": raw.get("description") or "",
        "created": raw.get("created_at") or "",
    }


class ZendeskProvider:
    def __init__(self, rest: RestClient) -> None:
        self.rest = rest

    async def search_tickets(self, query: str, *, limit: int = 25) -> list[Doc]:
        body = await self.rest.request(
            "GET", "/search.json", params={"query": f"type:ticket {query}".strip(), "per_page": limit}
        )
        return [normalize_ticket(r) for r in body.get("results", []) if r.get("result_type", "ticket") == "ticket"]

    async def get_ticket(self, ticket_id: str) -> Doc:
        raw = await self.rest.request("GET", f"/tickets/{ticket_id}.json")
        comments = await self.rest.request("GET", f"/tickets/{ticket_id}/comments.json")
        return {
            **normalize_ticket(raw["ticket"]),
            "comments": [
                {
                    "author": str(c.get("author_id", "")),
                    "body": c.get("body", ""),
                    "public": bool(c.get("public", True)),
                }
                for c in comments.get("comments", [])
            ],
        }

    async def create_ticket(
        self, *, subject: str, body: str, requester: str | None = None, priority: str | None = None
    ) -> Doc:
        ticket: dict[str, Any] = {"subject": subject, "comment": {"body": body}}
        if priority:
            ticket["priority"] = priority
        if requester:
            ticket["requester"] = {"email": requester}
        raw = await self.rest.request("POST", "/tickets.json", json={"ticket": ticket})
        return normalize_ticket(raw["ticket"])

    async def add_comment(self, ticket_id: str, body: str, *, public: bool) -> Doc:
        raw = await self.rest.request(
            "PUT", f"/tickets/{ticket_id}.json", json={"ticket": {"comment": {"body": body, "public": public}}}
        )
        return normalize_ticket(raw["ticket"])
