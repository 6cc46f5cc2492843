"""Responses in the shapes of each provider's documentation (Google Calendar v3, Gmail v1, HubSpot CRM v3,
Slack Web API, Zendesk Support v2), trimmed to the fields Dexa reads."""

from __future__ import annotations

import base64

CALENDAR_PAGE_1 = {
    "kind": "calendar#events",
    "summary": "maya@northwind.example",
    "nextPageToken": "p2",
    "items": [
        {
            "kind": "calendar#event",
            "id": "evt1",
            "status": "confirmed",
            "summary": "Acme — expansion review",
            "start": {"dateTime": "2030-01-07T10:00:00Z", "timeZone": "UTC"},
            "end": {"dateTime": "2030-01-07T11:00:00Z", "timeZone": "UTC"},
            "organizer": {"email": "maya@northwind.example", "self": True},
            "attendees": [
                {"email": "maya@northwind.example", "self": True, "responseStatus": "accepted"},
                {"email": "ana.silva@acme.example", "displayName": "Ana Silva", "responseStatus": "tentative"},
            ],
        }
    ],
}
CALENDAR_PAGE_2 = {
    "kind": "calendar#events",
    "items": [
        {
            "kind": "calendar#event",
            "id": "evt2",
            "summary": "Offsite",
            "start": {"date": "2030-01-09"},
            "end": {"date": "2030-01-10"},
        }
    ],
}
CALENDAR_INSERTED = {
    "kind": "calendar#event",
    "id": "new1",
    "status": "confirmed",
    "summary": "Follow-up",
    "start": {"dateTime": "2030-01-14T15:00:00Z"},
    "end": {"dateTime": "2030-01-14T15:30:00Z"},
    "attendees": [{"email": "ana.silva@acme.example", "responseStatus": "needsAction"}],
}
FREEBUSY = {
    "kind": "calendar#freeBusy",
    "timeMin": "2030-01-07T00:00:00Z",
    "timeMax": "2030-01-08T00:00:00Z",
    "calendars": {
        "ana.silva@acme.example": {"busy": [{"start": "2030-01-07T09:00:00Z", "end": "2030-01-07T10:00:00Z"}]}
    },
}


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


GMAIL_DRAFT_CREATED = {"id": "r-123", "message": {"id": "m-1", "threadId": "t-9", "labelIds": ["DRAFT"]}}
GMAIL_DRAFT = {
    "id": "r-123",
    "message": {
        "id": "m-1",
        "threadId": "t-9",
        "labelIds": ["DRAFT"],
        "payload": {
            "mimeType": "text/plain",
            "headers": [{"name": "To", "value": "ana.silva@acme.example"}, {"name": "Subject", "value": "Pricing"}],
            "body": {"size": 11, "data": b64("Hello Ana\n")},
        },
    },
}
GMAIL_SENT = {"id": "m-1", "threadId": "t-9", "labelIds": ["SENT"]}
GMAIL_THREADS = {
    "threads": [{"id": "t-9", "snippet": "Could you send the pricing", "historyId": "1"}],
    "resultSizeEstimate": 1,
}
GMAIL_THREAD_META = {
    "id": "t-9",
    "messages": [{"id": "m-0", "payload": {"headers": [{"name": "Subject", "value": "Pricing for 50 seats"}]}}],
}

HUBSPOT_SEARCH = {
    "total": 1,
    "results": [
        {
            "id": "501",
            "properties": {
                "firstname": "Ana",
                "lastname": "Silva",
                "email": "ana.silva@acme.example",
                "company": "Acme Corp",
                "jobtitle": "VP Operations",
                "hubspot_owner_id": "77",
            },
            "archived": False,
        }
    ],
}
HUBSPOT_DEAL = {
    "id": "9001",
    "properties": {
        "dealname": "Acme expansion",
        "dealstage": "contractsent",
        "amount": "48000",
        "closedate": "2030-02-01T00:00:00Z",
    },
    "associations": {"contacts": {"results": [{"id": "501", "type": "deal_to_contact"}]}},
}
HUBSPOT_NOTE = {"id": "n-1", "properties": {"hs_note_body": "Wants SSO", "hs_timestamp": "1893456000000"}}

SLACK_CHANNELS = {
    "ok": True,
    "channels": [{"id": "C0SALES", "name": "sales"}, {"id": "C0SUP", "name": "support"}],
    "response_metadata": {"next_cursor": ""},
}
SLACK_POSTED = {
    "ok": True,
    "channel": "C0SALES",
    "ts": "1700000099.000200",
    "message": {"type": "message", "text": "hi", "ts": "1700000099.000200"},
}
SLACK_HISTORY = {
    "ok": True,
    "messages": [{"type": "message", "user": "U1", "text": "Acme wants pricing", "ts": "1700000003.000300"}],
    "has_more": False,
}

ZENDESK_TICKET = {
    "ticket": {
        "id": 101,
        "subject": "CSV export times out",
        "status": "open",
        "priority": "high",
        "requester_id": 9001,
        "description": "Large dashboards time out",
        "created_at": "2030-01-07T09:00:00Z",
    }
}
ZENDESK_COMMENTS = {"comments": [{"id": 1, "author_id": 9001, "body": "It times out", "public": True}]}
ZENDESK_SEARCH = {"results": [{**ZENDESK_TICKET["ticket"], "result_type": "ticket"}], "count": 1}
