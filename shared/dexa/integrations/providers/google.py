"""Google Calendar v3 and Gmail v1 providers (REST, OAuth bearer from the vault)."""

from __future__ import annotations

import base64
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote

from dexa.core.errors import ToolInputError

from .base import AvailabilityUnknownError, Doc
from .http import RestClient

CALENDAR_API = "https://www.googleapis.com/calendar/v3"
GMAIL_API = "https://gmail.googleapis.com/gmail/v1/users/me"


def _when(value: dict[str, Any] | None) -> str:
    value = value or {}
    return str(value.get("dateTime") or value.get("date") or "")


def normalize_event(item: dict[str, Any]) -> Doc:
    return {
        "id": item["id"],
        "summary": item.get("summary", ""),
        "description": item.get("description", ""),
        "start": _when(item.get("start")),
        "end": _when(item.get("end")),
        "location": item.get("location", ""),
        "organizer": (item.get("organizer") or {}).get("email", ""),
        "attendees": [
            {
                "email": a.get("email", ""),
                "name": a.get("displayName", ""),
                "response": a.get("responseStatus", "needsAction"),
            }
            for a in item.get("attendees", [])
        ],
    }


def read_freebusy(body: dict[str, Any], emails: list[str]) -> dict[str, list[tuple[str, str]]]:
    """Busy spans from a freeBusy response. A calendar Google could not read comes back with `errors` and no
    busy spans (e.g. notFound for a calendar not shared with the user): that is unknown, never free.

    Raises:
        AvailabilityUnknownError: naming each unreadable calendar and Google's reason.
    """
    calendars: dict[str, Any] = body.get("calendars") or {}
    known: dict[str, list[tuple[str, str]]] = {}
    unknown: dict[str, str] = {}
    for email in emails:
        entry = calendars.get(email)
        if entry is None:
            unknown[email] = "missing from Google's free/busy answer"
        elif entry.get("errors"):
            unknown[email] = ", ".join(str(e.get("reason", "error")) for e in entry["errors"])
        else:
            known[email] = [(b["start"], b["end"]) for b in entry.get("busy", [])]
    if unknown:
        raise AvailabilityUnknownError(unknown, known)
    return known


class GoogleCalendarProvider:
    def __init__(self, rest: RestClient, *, calendar_id: str = "primary") -> None:
        self.rest = rest
        self.path = f"/calendars/{quote(calendar_id, safe='')}/events"

    async def list_events(self, *, time_min: str, time_max: str, query: str | None = None) -> list[Doc]:
        events: list[Doc] = []
        token: str | None = None
        for _ in range(20):
            page = await self.rest.request(
                "GET",
                self.path,
                params={
                    "timeMin": time_min,
                    "timeMax": time_max,
                    "singleEvents": "true",
                    "orderBy": "startTime",
                    "q": query,
                    "pageToken": token,
                    "maxResults": 250,
                },
            )
            events += [normalize_event(i) for i in page.get("items", [])]
            token = page.get("nextPageToken")
            if not token:
                break
        return events

    async def get_event(self, event_id: str) -> Doc:
        return normalize_event(await self.rest.request("GET", f"{self.path}/{quote(event_id, safe='')}"))

    async def busy(self, emails: list[str], *, time_min: str, time_max: str) -> dict[str, list[tuple[str, str]]]:
        body = await self.rest.request(
            "POST", "/freeBusy", json={"timeMin": time_min, "timeMax": time_max, "items": [{"id": e} for e in emails]}
        )
        return read_freebusy(body, emails)

    async def create_event(self, event: Doc, *, send_updates: bool) -> Doc:
        payload = {
            "summary": event["summary"],
            "description": event.get("description", ""),
            "location": event.get("location", ""),
            "start": {"dateTime": event["start"]},
            "end": {"dateTime": event["end"]},
            "attendees": [{"email": e} for e in event.get("attendees", [])],
        }
        created = await self.rest.request(
            "POST", self.path, params={"sendUpdates": "all" if send_updates else "none"}, json=payload
        )
        return normalize_event(created)

    async def update_event(self, event_id: str, patch: Doc, *, send_updates: bool) -> Doc:
        payload: dict[str, Any] = {k: patch[k] for k in ("summary", "description") if k in patch}
        for key in ("start", "end"):
            if key in patch:
                payload[key] = {"dateTime": patch[key]}
        if "attendees" in patch:
            payload["attendees"] = [{"email": e} for e in patch["attendees"]]
        updated = await self.rest.request(
            "PATCH",
            f"{self.path}/{quote(event_id, safe='')}",
            params={"sendUpdates": "all" if send_updates else "none"},
            json=payload,
        )
        return normalize_event(updated)

    async def respond_to_event(self, event_id: str, response: str) -> Doc:
        raw = await self.rest.request("GET", f"{self.path}/{quote(event_id, safe='')}")
        attendees = raw.get("attendees", [])
        mine = [a for a in attendees if a.get("self")]
        if not mine:
            raise ToolInputError(f"you are not an attendee of event {event_id}")
        for attendee in mine:
            attendee["responseStatus"] = response
        updated = await self.rest.request(
            "PATCH",
            f"{self.path}/{quote(event_id, safe='')}",
            params={"sendUpdates": "all"},
            json={"attendees": attendees},
        )
        return normalize_event(updated)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _headers(payload: dict[str, Any]) -> dict[str, str]:
    return {h["name"].lower(): h["value"] for h in payload.get("headers", [])}


def _body(payload: dict[str, Any]) -> str:
    data = (payload.get("body") or {}).get("data")
    if data and payload.get("mimeType", "text/plain").startswith("text/plain"):
        return _unb64url(data).decode(errors="replace")
    for part in payload.get("parts", []) or []:
        text = _body(part)
        if text:
            return text
    return _unb64url(data).decode(errors="replace") if data else ""


def _addresses(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def normalize_message(message: dict[str, Any]) -> Doc:
    payload = message.get("payload", {})
    h = _headers(payload)
    return {
        "id": message.get("id", ""),
        "thread_id": message.get("threadId"),
        "from": h.get("from", ""),
        "to": _addresses(h.get("to", "")),
        "cc": _addresses(h.get("cc", "")),
        "subject": h.get("subject", ""),
        "date": h.get("date", ""),
        "body": _body(payload),
    }


class GmailProvider:
    def __init__(self, rest: RestClient) -> None:
        self.rest = rest

    async def profile(self) -> Doc:
        raw = await self.rest.request("GET", "/profile")
        return {"email": raw.get("emailAddress", "")}

    async def search_threads(self, query: str, *, max_results: int = 20) -> list[Doc]:
        page = await self.rest.request("GET", "/threads", params={"q": query, "maxResults": max_results})
        out: list[Doc] = []
        for thread in page.get("threads", [])[:max_results]:
            meta = await self.rest.request(
                "GET", f"/threads/{thread['id']}", params={"format": "metadata", "metadataHeaders": "Subject"}
            )
            first = (meta.get("messages") or [{}])[0]
            out.append(
                {
                    "id": thread["id"],
                    "subject": _headers(first.get("payload", {})).get("subject", ""),
                    "snippet": thread.get("snippet", ""),
                }
            )
        return out

    async def get_thread(self, thread_id: str) -> Doc:
        raw = await self.rest.request("GET", f"/threads/{thread_id}", params={"format": "full"})
        messages = [normalize_message(m) for m in raw.get("messages", [])]
        return {"id": thread_id, "subject": messages[0]["subject"] if messages else "", "messages": messages}

    async def create_draft(
        self, *, to: list[str], subject: str, body: str, cc: list[str] | None = None, thread_id: str | None = None
    ) -> Doc:
        mail = EmailMessage()
        mail["To"] = ", ".join(to)
        if cc:
            mail["Cc"] = ", ".join(cc)
        reply = await self._reply_headers(thread_id) if thread_id else None
        if reply is not None:
            subject = reply["subject"]
            mail["In-Reply-To"] = reply["in_reply_to"]
            mail["References"] = reply["references"]
        mail["Subject"] = subject
        mail.set_content(body)
        message: dict[str, Any] = {"raw": _b64url(mail.as_bytes())}
        if thread_id:
            message["threadId"] = thread_id
        created = await self.rest.request("POST", "/drafts", json={"message": message})
        return {
            "id": created["id"],
            "to": to,
            "cc": cc or [],
            "subject": subject,
            "body": body,
            "thread_id": (created.get("message") or {}).get("threadId", thread_id),
            "in_reply_to": reply["in_reply_to"] if reply else None,
        }

    async def _reply_headers(self, thread_id: str) -> dict[str, str]:
        """Gmail threads a draft only if it names the thread, answers a message of it by Message-ID
        (In-Reply-To, References) and keeps its subject (developers.google.com/gmail/api/guides/threads)."""
        raw = await self.rest.request(
            "GET",
            f"/threads/{quote(thread_id, safe='')}",
            params={"format": "metadata", "metadataHeaders": ["Subject", "Message-ID", "References"]},
        )
        messages = [m for m in raw.get("messages", []) if "DRAFT" not in m.get("labelIds", [])]
        if not messages:
            raise ToolInputError(f"Gmail thread {thread_id} has no message to reply to")
        last = _headers(messages[-1].get("payload", {}))
        message_id = last.get("message-id", "")
        if not message_id:
            raise ToolInputError(f"the last message of Gmail thread {thread_id} has no Message-ID to reply to")
        original = _headers(messages[0].get("payload", {})).get("subject", "")
        subject = original if original.lower().startswith("re:") else f"Re: {original}"
        references = " ".join(x for x in (last.get("references", ""), message_id) if x)
        return {"subject": subject, "in_reply_to": message_id, "references": references}

    async def get_draft(self, draft_id: str) -> Doc:
        raw = await self.rest.request("GET", f"/drafts/{draft_id}", params={"format": "full"})
        message = normalize_message(raw.get("message", {}))
        return {
            "id": raw.get("id", draft_id),
            "to": message["to"],
            "cc": message["cc"],
            "subject": message["subject"],
            "body": message["body"],
            "thread_id": message["thread_id"],
        }

    async def send_draft(self, draft_id: str) -> Doc:
        sent = await self.rest.request("POST", "/drafts/send", json={"id": draft_id})
        return {
            "id": sent.get("id", ""),
            "draft_id": draft_id,
            "thread_id": sent.get("threadId"),
            "labels": sent.get("labelIds", []),
        }
