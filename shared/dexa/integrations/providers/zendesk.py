"""Zendesk Support API v2 provider. `comment.public=true` emails the requester, so it is always staged.

Zendesk takes two kinds of credential (developer.zendesk.com, "Security and authentication"): an API token is
the password of HTTP Basic auth for the user `{email}/token`; an OAuth access token is a Bearer token. An API
token sent as Bearer is refused with 401, so the integration's config says which one it holds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from dexa.core.errors import ConfigError

from .base import Doc
from .http import RestClient

TOKEN_TYPES = ("api_token", "oauth")
_SUBDOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def zendesk_api(subdomain: str) -> str:
    return f"https://{subdomain}.zendesk.com/api/v2"


def check_config(config: Mapping[str, Any]) -> None:
    """Refuse a config that could only fail later with a 401 or a wrong host.

    Raises:
        ConfigError: naming the missing or bad key.
    """
    subdomain = str(config.get("subdomain") or "")
    if not _SUBDOMAIN.match(subdomain):
        raise ConfigError(f"zendesk subdomain must be the <name> of <name>.zendesk.com, got {subdomain!r}")
    token_type = str(config.get("token_type") or "api_token")
    if token_type not in TOKEN_TYPES:
        raise ConfigError(f"zendesk token_type must be one of {', '.join(TOKEN_TYPES)}, got {token_type!r}")
    if token_type == "api_token" and "@" not in str(config.get("email") or ""):
        raise ConfigError(
            "a Zendesk API token signs in as {email}/token: add --config email=AGENT_EMAIL "
            "(or --config token_type=oauth if the key is an OAuth access token)"
        )


def basic_user(config: Mapping[str, Any]) -> str | None:
    """The HTTP Basic user for an API token (`{email}/token`), or None for an OAuth token sent as Bearer."""
    check_config(config)
    if str(config.get("token_type") or "api_token") == "oauth":
        return None
    return f"{config['email']}/token"


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
