"""Microsoft Graph v1.0 providers for Outlook calendar and mail (REST, OAuth bearer from the vault).

Shapes are normalised to the Google ones (providers.base), so previews and prompts do not depend on the vendor.
Graph's equivalents: a thread is a conversation (`conversationId`), free/busy is `calendar/getSchedule`, and a
reply is drafted with `createReply`, which Graph threads itself (In-Reply-To/References from the original's
internetMessageId). Every request asks for UTC times (`Prefer: outlook.timezone="UTC"`) and text bodies.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from dexa.core.errors import ToolInputError

from .base import AvailabilityUnknownError, Doc
from .http import RestClient

GRAPH_API = "https://graph.microsoft.com/v1.0"
GRAPH_HEADERS = {"Prefer": 'outlook.timezone="UTC", outlook.body-content-type="text"'}

# Graph's responseStatus.response -> the Google vocabulary the managed servers speak.
_RESPONSES = {
    "accepted": "accepted",
    "organizer": "accepted",
    "tentativelyAccepted": "tentative",
    "declined": "declined",
    "none": "needsAction",
    "notResponded": "needsAction",
}
# getSchedule item statuses that make a person unavailable (free and workingElsewhere do not).
_BUSY = ("busy", "tentative", "oof")
_EVENT_FIELDS = "subject,bodyPreview,start,end,location,organizer,attendees"
_MESSAGE_FIELDS = "id,conversationId,subject,from,toRecipients,ccRecipients,receivedDateTime,body,isDraft"


def graph_rest(token: Any, *, http: Any = None, vendor: str = "Microsoft Graph") -> RestClient:
    return RestClient(GRAPH_API, token, vendor=vendor, http=http, headers=GRAPH_HEADERS)


def _utc(value: dict[str, Any] | None) -> str:
    """Graph's dateTimeTimeZone (UTC, as requested by the Prefer header) -> ISO 8601 with Z."""
    value = value or {}
    text = str(value.get("dateTime") or "")
    if not text:
        return ""
    zone = str(value.get("timeZone") or "UTC")
    moment = text.split(".")[0]
    return moment + "Z" if zone.upper() in ("UTC", "ETC/UTC") else f"{moment} {zone}"


def _graph_time(iso: str) -> dict[str, str]:
    """ISO 8601 with an offset -> Graph's dateTimeTimeZone in UTC."""
    try:
        parsed = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ToolInputError(f"not an ISO 8601 date-time: {iso!r}") from exc
    if parsed.tzinfo is None:
        raise ToolInputError(f"date-time needs a timezone offset (e.g. Z or +02:00): {iso!r}")
    return {"dateTime": parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


def _address(value: dict[str, Any] | None) -> str:
    return str(((value or {}).get("emailAddress") or {}).get("address") or "")


def _recipients(emails: list[str]) -> list[dict[str, Any]]:
    return [{"emailAddress": {"address": e}} for e in emails]


def normalize_event(item: dict[str, Any]) -> Doc:
    return {
        "id": item["id"],
        "summary": item.get("subject") or "",
        "description": item.get("bodyPreview") or "",
        "start": _utc(item.get("start")),
        "end": _utc(item.get("end")),
        "location": (item.get("location") or {}).get("displayName") or "",
        "organizer": _address(item.get("organizer")),
        "attendees": [
            {
                "email": _address(a),
                "name": (a.get("emailAddress") or {}).get("name") or "",
                "response": _RESPONSES.get(str((a.get("status") or {}).get("response")), "needsAction"),
            }
            for a in item.get("attendees") or []
        ],
    }


def read_schedule(body: dict[str, Any], emails: list[str]) -> dict[str, list[tuple[str, str]]]:
    """Busy spans from a getSchedule answer. A schedule Graph could not read carries `error` (e.g. the mailbox
    is outside the tenant or not shared): unknown, never free.

    Raises:
        AvailabilityUnknownError: naming each unreadable schedule and Graph's reason.
    """
    by_id = {str(s.get("scheduleId", "")).lower(): s for s in body.get("value") or []}
    known: dict[str, list[tuple[str, str]]] = {}
    unknown: dict[str, str] = {}
    for email in emails:
        schedule = by_id.get(email.lower())
        if schedule is None:
            unknown[email] = "missing from Graph's getSchedule answer"
        elif schedule.get("error"):
            error = schedule["error"]
            unknown[email] = str(error.get("responseCode") or error.get("message") or "error")
        else:
            known[email] = [
                (_utc(i.get("start")), _utc(i.get("end")))
                for i in schedule.get("scheduleItems") or []
                if i.get("status") in _BUSY
            ]
    if unknown:
        raise AvailabilityUnknownError(unknown, known)
    return known


class OutlookCalendarProvider:
    def __init__(self, rest: RestClient) -> None:
        self.rest = rest

    async def list_events(self, *, time_min: str, time_max: str, query: str | None = None) -> list[Doc]:
        events: list[Doc] = []
        next_url: str | None = "/me/calendarView"
        params: dict[str, Any] | None = {
            "startDateTime": time_min,
            "endDateTime": time_max,
            "$top": 100,
            "$select": _EVENT_FIELDS,
        }
        for _ in range(20):
            if next_url is None:
                break
            page = await self.rest.request("GET", next_url, params=params)
            events += [normalize_event(i) for i in page.get("value", [])]
            # The next link carries every parameter; sending them again would duplicate them.
            next_url, params = page.get("@odata.nextLink"), None
        if query:
            # calendarView takes no free-text search; match the way Google's q does on the visible fields.
            needle = query.lower()
            events = [
                e for e in events if any(needle in str(e[k]).lower() for k in ("summary", "description", "location"))
            ]
        return sorted(events, key=lambda e: e["start"])

    async def get_event(self, event_id: str) -> Doc:
        return normalize_event(await self.rest.request("GET", f"/me/events/{quote(event_id, safe='')}"))

    async def busy(self, emails: list[str], *, time_min: str, time_max: str) -> dict[str, list[tuple[str, str]]]:
        body = await self.rest.request(
            "POST",
            "/me/calendar/getSchedule",
            json={
                "schedules": emails,
                "startTime": _graph_time(time_min),
                "endTime": _graph_time(time_max),
                "availabilityViewInterval": 30,
            },
        )
        return read_schedule(body, emails)

    async def create_event(self, event: Doc, *, send_updates: bool) -> Doc:
        # Graph invites the attendees of a new event itself; there is no way to add them silently.
        payload = {
            "subject": event["summary"],
            "body": {"contentType": "text", "content": event.get("description", "")},
            "start": _graph_time(event["start"]),
            "end": _graph_time(event["end"]),
            "location": {"displayName": event.get("location", "")},
            "attendees": [{"emailAddress": {"address": e}, "type": "required"} for e in event.get("attendees", [])],
        }
        return normalize_event(await self.rest.request("POST", "/me/events", json=payload))

    async def update_event(self, event_id: str, patch: Doc, *, send_updates: bool) -> Doc:
        payload: dict[str, Any] = {}
        if "summary" in patch:
            payload["subject"] = patch["summary"]
        if "description" in patch:
            payload["body"] = {"contentType": "text", "content": patch["description"]}
        for key in ("start", "end"):
            if key in patch:
                payload[key] = _graph_time(patch[key])
        if "attendees" in patch:
            payload["attendees"] = [{"emailAddress": {"address": e}, "type": "required"} for e in patch["attendees"]]
        updated = await self.rest.request("PATCH", f"/me/events/{quote(event_id, safe='')}", json=payload)
        return normalize_event(updated)

    async def respond_to_event(self, event_id: str, response: str) -> Doc:
        action = {"accepted": "accept", "declined": "decline", "tentative": "tentativelyAccept"}.get(response)
        if action is None:
            raise ToolInputError(f"response must be accepted, declined or tentative, not {response!r}")
        path = f"/me/events/{quote(event_id, safe='')}"
        await self.rest.request("POST", f"{path}/{action}", json={"sendResponse": True})
        return normalize_event(await self.rest.request("GET", path))


def normalize_message(message: dict[str, Any]) -> Doc:
    return {
        "id": message.get("id", ""),
        "thread_id": message.get("conversationId"),
        "from": _address(message.get("from")),
        "to": [_address(r) for r in message.get("toRecipients") or []],
        "cc": [_address(r) for r in message.get("ccRecipients") or []],
        "subject": message.get("subject") or "",
        "date": message.get("receivedDateTime") or "",
        "body": (message.get("body") or {}).get("content") or "",
    }


def _quoted(value: str) -> str:
    """An OData string literal (single quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


class OutlookMailProvider:
    def __init__(self, rest: RestClient) -> None:
        self.rest = rest

    async def profile(self) -> Doc:
        raw = await self.rest.request("GET", "/me", params={"$select": "displayName,mail,userPrincipalName"})
        return {"email": raw.get("mail") or raw.get("userPrincipalName") or "", "name": raw.get("displayName") or ""}

    async def search_threads(self, query: str, *, max_results: int = 20) -> list[Doc]:
        page = await self.rest.request(
            "GET",
            "/me/messages",
            params={
                "$search": '"' + query.replace('"', "") + '"',
                "$top": max_results,
                "$select": "id,conversationId,subject,bodyPreview,receivedDateTime",
            },
        )
        threads: dict[str, Doc] = {}
        for message in page.get("value", []):
            conversation = message.get("conversationId") or message["id"]
            threads.setdefault(
                conversation,
                {
                    "id": conversation,
                    "subject": message.get("subject") or "",
                    "snippet": message.get("bodyPreview", ""),
                },
            )
        return list(threads.values())[:max_results]

    async def _conversation(self, thread_id: str) -> list[dict[str, Any]]:
        page = await self.rest.request(
            "GET",
            "/me/messages",
            params={"$filter": f"conversationId eq {_quoted(thread_id)}", "$top": 50, "$select": _MESSAGE_FIELDS},
        )
        # Graph refuses $orderby next to this $filter (InefficientFilter), so order here.
        return sorted(page.get("value", []), key=lambda m: str(m.get("receivedDateTime") or ""))

    async def get_thread(self, thread_id: str) -> Doc:
        messages = [normalize_message(m) for m in await self._conversation(thread_id) if not m.get("isDraft")]
        return {"id": thread_id, "subject": messages[0]["subject"] if messages else "", "messages": messages}

    async def create_draft(
        self, *, to: list[str], subject: str, body: str, cc: list[str] | None = None, thread_id: str | None = None
    ) -> Doc:
        text = {"contentType": "text", "content": body}
        if thread_id:
            received = [m for m in await self._conversation(thread_id) if not m.get("isDraft")]
            if not received:
                raise ToolInputError(f"Outlook conversation {thread_id} has no message to reply to")
            original = received[-1]
            # createReply threads the draft (same conversation, In-Reply-To the original's Message-ID).
            created = await self.rest.request(
                "POST",
                f"/me/messages/{quote(original['id'], safe='')}/createReply",
                json={
                    "message": {"toRecipients": _recipients(to), "ccRecipients": _recipients(cc or []), "body": text}
                },
            )
        else:
            created = await self.rest.request(
                "POST",
                "/me/messages",
                json={
                    "subject": subject,
                    "body": text,
                    "toRecipients": _recipients(to),
                    "ccRecipients": _recipients(cc or []),
                },
            )
        return {
            "id": created["id"],
            "to": to,
            "cc": cc or [],
            "subject": created.get("subject") or subject,
            "body": body,
            "thread_id": created.get("conversationId") or thread_id,
        }

    async def get_draft(self, draft_id: str) -> Doc:
        raw = await self.rest.request(
            "GET", f"/me/messages/{quote(draft_id, safe='')}", params={"$select": _MESSAGE_FIELDS}
        )
        message = normalize_message(raw)
        return {k: message[k] for k in ("id", "to", "cc", "subject", "body", "thread_id")}

    async def send_draft(self, draft_id: str) -> Doc:
        # 202 with no body: Graph moves the draft to Sent Items under a new id it does not return.
        await self.rest.request("POST", f"/me/messages/{quote(draft_id, safe='')}/send")
        return {"id": draft_id, "draft_id": draft_id, "status": "sent"}
