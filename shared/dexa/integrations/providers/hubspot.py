"""HubSpot CRM v3 provider: contacts, deals, notes (association 202) and tasks (association 204)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from .base import Doc
from .http import RestClient

HUBSPOT_API = "https://api.hubapi.com"
CONTACT_PROPS = ["firstname", "lastname", "email", "company", "jobtitle", "hubspot_owner_id"]
DEAL_PROPS = ["dealname", "dealstage", "amount", "closedate", "hs_next_step"]
# Dexa's neutral field names -> HubSpot deal properties.
DEAL_FIELDS = {
    "name": "dealname",
    "stage": "dealstage",
    "amount": "amount",
    "close_date": "closedate",
    "next_step": "hs_next_step",
}
NOTE_TO_CONTACT = 202
TASK_TO_CONTACT = 204


def _assoc(contact_id: str, type_id: int) -> list[dict[str, Any]]:
    return [
        {"to": {"id": contact_id}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}]}
    ]


def _assoc_ids(raw: dict[str, Any], kind: str) -> list[str]:
    return [str(r["id"]) for r in ((raw.get("associations") or {}).get(kind) or {}).get("results", [])]


def normalize_contact(raw: dict[str, Any]) -> Doc:
    p = raw.get("properties", {})
    name = " ".join(x for x in (p.get("firstname"), p.get("lastname")) if x)
    return {
        "id": str(raw["id"]),
        "name": name,
        "email": p.get("email") or "",
        "company": p.get("company") or "",
        "title": p.get("jobtitle") or "",
        "owner": p.get("hubspot_owner_id") or "",
        "deal_ids": _assoc_ids(raw, "deals"),
    }


def normalize_deal(raw: dict[str, Any]) -> Doc:
    p = raw.get("properties", {})
    amount = p.get("amount")
    return {
        "id": str(raw["id"]),
        "name": p.get("dealname") or "",
        "stage": p.get("dealstage") or "",
        "amount": float(amount) if amount not in (None, "") else None,
        "close_date": p.get("closedate") or "",
        "next_step": p.get("hs_next_step") or "",
        "contact_ids": _assoc_ids(raw, "contacts"),
    }


def _millis(due: str | None) -> str:
    if not due:
        return str(int(time.time() * 1000))
    parsed = datetime.fromisoformat(due.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return str(int(parsed.timestamp() * 1000))


class HubSpotProvider:
    def __init__(self, rest: RestClient) -> None:
        self.rest = rest

    async def search_contacts(self, query: str, *, limit: int = 20) -> list[Doc]:
        body = await self.rest.request(
            "POST",
            "/crm/v3/objects/contacts/search",
            # HubSpot's description requires filterGroups, sorts and the paging cursor even when unused.
            json={
                "query": query,
                "limit": limit,
                "properties": CONTACT_PROPS,
                "filterGroups": [],
                "sorts": [],
                "after": "0",
            },
        )
        return [normalize_contact(r) for r in body.get("results", [])]

    async def get_contact(self, contact_id: str) -> Doc:
        raw = await self.rest.request(
            "GET",
            f"/crm/v3/objects/contacts/{contact_id}",
            params={"properties": ",".join(CONTACT_PROPS), "associations": "deals"},
        )
        return normalize_contact(raw)

    async def get_deal(self, deal_id: str) -> Doc:
        raw = await self.rest.request(
            "GET",
            f"/crm/v3/objects/deals/{deal_id}",
            params={"properties": ",".join(DEAL_PROPS), "associations": "contacts"},
        )
        return normalize_deal(raw)

    async def update_deal(self, deal_id: str, properties: Doc) -> Doc:
        mapped = {DEAL_FIELDS.get(k, k): str(v) for k, v in properties.items()}
        raw = await self.rest.request("PATCH", f"/crm/v3/objects/deals/{deal_id}", json={"properties": mapped})
        return normalize_deal(raw)

    async def create_note(self, contact_id: str, body: str) -> Doc:
        raw = await self.rest.request(
            "POST",
            "/crm/v3/objects/notes",
            json={
                "properties": {"hs_note_body": body, "hs_timestamp": _millis(None)},
                "associations": _assoc(contact_id, NOTE_TO_CONTACT),
            },
        )
        return {"id": str(raw.get("id", "")), "contact_id": contact_id, "body": body}

    async def create_task(self, contact_id: str, subject: str, due: str | None = None) -> Doc:
        raw = await self.rest.request(
            "POST",
            "/crm/v3/objects/tasks",
            json={
                "properties": {
                    "hs_task_subject": subject,
                    "hs_timestamp": _millis(due),
                    "hs_task_status": "NOT_STARTED",
                },
                "associations": _assoc(contact_id, TASK_TO_CONTACT),
            },
        )
        return {
            "id": str(raw.get("id", "")),
            "contact_id": contact_id,
            "subject": subject,
            "due": due,
            "status": "open",
        }
