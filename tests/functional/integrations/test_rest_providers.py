"""Real provider clients against recorded responses (respx): request shapes, normalisation, error mapping."""

from __future__ import annotations

import base64
import email
import json

import httpx
import pytest
import respx
from provider_fixtures import (
    CALENDAR_INSERTED,
    CALENDAR_PAGE_1,
    CALENDAR_PAGE_2,
    FREEBUSY,
    GMAIL_DRAFT,
    GMAIL_DRAFT_CREATED,
    GMAIL_SENT,
    GMAIL_THREAD_META,
    GMAIL_THREADS,
    HUBSPOT_DEAL,
    HUBSPOT_NOTE,
    HUBSPOT_SEARCH,
    SLACK_CHANNELS,
    SLACK_HISTORY,
    SLACK_POSTED,
    ZENDESK_COMMENTS,
    ZENDESK_SEARCH,
    ZENDESK_TICKET,
)

from dexa.core.errors import NotFoundError, PermissionDeniedError, ToolError
from dexa.integrations.providers.google import CALENDAR_API, GMAIL_API, GmailProvider, GoogleCalendarProvider
from dexa.integrations.providers.http import RestClient
from dexa.integrations.providers.hubspot import HUBSPOT_API, HubSpotProvider
from dexa.integrations.providers.slack import SLACK_API, SlackProvider
from dexa.integrations.providers.zendesk import ZendeskProvider, zendesk_api

pytestmark = pytest.mark.anyio


async def _token() -> str:
    return "ya29.test-token"


def _rest(base: str, vendor: str) -> RestClient:
    return RestClient(base, _token, vendor=vendor)


def _body(call: respx.models.Call) -> dict:
    return json.loads(call.request.content)


async def test_google_calendar_pages_normalises_and_inserts_with_invites() -> None:
    with respx.mock(base_url=CALENDAR_API, assert_all_called=True) as api:
        events = api.get("/calendars/primary/events")
        events.side_effect = [httpx.Response(200, json=CALENDAR_PAGE_1), httpx.Response(200, json=CALENDAR_PAGE_2)]
        insert = api.post("/calendars/primary/events").respond(200, json=CALENDAR_INSERTED)
        busy = api.post("/freeBusy").respond(200, json=FREEBUSY)
        cal = GoogleCalendarProvider(_rest(CALENDAR_API, "Google Calendar"))
        listed = await cal.list_events(time_min="2030-01-07T00:00:00Z", time_max="2030-01-14T00:00:00Z")
        assert [e["id"] for e in listed] == ["evt1", "evt2"] and listed[1]["start"] == "2030-01-09"
        assert listed[0]["attendees"][1] == {
            "email": "ana.silva@acme.example",
            "name": "Ana Silva",
            "response": "tentative",
        }
        first = events.calls[0].request
        assert first.url.params["singleEvents"] == "true" and first.url.params["orderBy"] == "startTime"
        assert events.calls[1].request.url.params["pageToken"] == "p2"
        assert first.headers["authorization"] == "Bearer ya29.test-token"
        await cal.create_event(
            {
                "summary": "Follow-up",
                "start": "2030-01-14T15:00:00Z",
                "end": "2030-01-14T15:30:00Z",
                "attendees": ["ana.silva@acme.example"],
            },
            send_updates=True,
        )
        assert insert.calls[0].request.url.params["sendUpdates"] == "all"
        assert _body(insert.calls[0])["attendees"] == [{"email": "ana.silva@acme.example"}]
        spans = await cal.busy(
            ["ana.silva@acme.example"], time_min="2030-01-07T00:00:00Z", time_max="2030-01-08T00:00:00Z"
        )
        assert spans == {"ana.silva@acme.example": [("2030-01-07T09:00:00Z", "2030-01-07T10:00:00Z")]}
        assert _body(busy.calls[0])["items"] == [{"id": "ana.silva@acme.example"}]


async def test_gmail_drafts_are_rfc5322_and_sending_is_a_separate_call() -> None:
    with respx.mock(base_url=GMAIL_API) as api:
        create = api.post("/drafts").respond(200, json=GMAIL_DRAFT_CREATED)
        api.get("/drafts/r-123").respond(200, json=GMAIL_DRAFT)
        send = api.post("/drafts/send").respond(200, json=GMAIL_SENT)
        api.get("/threads").respond(200, json=GMAIL_THREADS)
        api.get("/threads/t-9").respond(200, json=GMAIL_THREAD_META)
        gmail = GmailProvider(_rest(GMAIL_API, "Gmail"))
        draft = await gmail.create_draft(
            to=["ana.silva@acme.example"], subject="Pricing", body="Hello Ana", thread_id="t-9"
        )
        assert draft["id"] == "r-123" and send.call_count == 0
        message = _body(create.calls[0])["message"]
        parsed = email.message_from_bytes(base64.urlsafe_b64decode(message["raw"] + "=="))
        assert parsed["To"] == "ana.silva@acme.example" and parsed["Subject"] == "Pricing"
        assert message["threadId"] == "t-9"
        fetched = await gmail.get_draft("r-123")
        assert fetched["body"] == "Hello Ana\n" and fetched["to"] == ["ana.silva@acme.example"]
        threads = await gmail.search_threads("from:ana.silva@acme.example")
        assert threads == [{"id": "t-9", "subject": "Pricing for 50 seats", "snippet": "Could you send the pricing"}]
        sent = await gmail.send_draft("r-123")
        assert _body(send.calls[0]) == {"id": "r-123"} and sent["labels"] == ["SENT"]


async def test_hubspot_search_notes_with_association_and_deal_updates() -> None:
    with respx.mock(base_url=HUBSPOT_API) as api:
        search = api.post("/crm/v3/objects/contacts/search").respond(200, json=HUBSPOT_SEARCH)
        note = api.post("/crm/v3/objects/notes").respond(201, json=HUBSPOT_NOTE)
        patch = api.patch("/crm/v3/objects/deals/9001").respond(200, json=HUBSPOT_DEAL)
        crm = HubSpotProvider(_rest(HUBSPOT_API, "HubSpot"))
        (contact,) = await crm.search_contacts("acme")
        assert contact == {
            "id": "501",
            "name": "Ana Silva",
            "email": "ana.silva@acme.example",
            "company": "Acme Corp",
            "title": "VP Operations",
            "owner": "77",
            "deal_ids": [],
        }
        assert _body(search.calls[0])["query"] == "acme"
        await crm.create_note("501", "Wants SSO")
        sent = _body(note.calls[0])
        assert sent["properties"]["hs_note_body"] == "Wants SSO" and sent["properties"]["hs_timestamp"].isdigit()
        assert sent["associations"][0]["types"][0]["associationTypeId"] == 202
        deal = await crm.update_deal("9001", {"stage": "contractsent", "amount": 48000})
        assert _body(patch.calls[0]) == {"properties": {"dealstage": "contractsent", "amount": "48000"}}
        assert deal["amount"] == 48000.0 and deal["contact_ids"] == ["501"]


async def test_slack_resolves_channels_checks_ok_and_posts() -> None:
    with respx.mock(base_url=SLACK_API) as api:
        api.get("/conversations.list").respond(200, json=SLACK_CHANNELS)
        api.get("/conversations.history").respond(200, json=SLACK_HISTORY)
        post = api.post("/chat.postMessage").respond(200, json=SLACK_POSTED)
        slack = SlackProvider(_rest(SLACK_API, "Slack"))
        (msg,) = await slack.read_channel("#sales")
        assert msg["text"] == "Acme wants pricing"
        await slack.send_message("#sales", "hi", thread_ts="1700000003.000300")
        assert _body(post.calls[0]) == {
            "channel": "C0SALES",
            "text": "hi",
            "unfurl_links": False,
            "thread_ts": "1700000003.000300",
        }
        with pytest.raises(NotFoundError, match="#general"):
            await slack.read_channel("#general")
    with respx.mock(base_url=SLACK_API) as api:
        api.post("/chat.postMessage").respond(200, json={"ok": False, "error": "not_in_channel"})
        with pytest.raises(PermissionDeniedError, match="not_in_channel"):
            await SlackProvider(_rest(SLACK_API, "Slack")).send_message("C0X", "hi")


async def test_zendesk_search_read_and_public_comment_shape() -> None:
    base = zendesk_api("acme")
    with respx.mock(base_url=base) as api:
        search = api.get("/search.json").respond(200, json=ZENDESK_SEARCH)
        api.get("/tickets/101.json").respond(200, json=ZENDESK_TICKET)
        api.get("/tickets/101/comments.json").respond(200, json=ZENDESK_COMMENTS)
        put = api.put("/tickets/101.json").respond(200, json=ZENDESK_TICKET)
        desk = ZendeskProvider(_rest(base, "Zendesk"))
        assert [t["id"] for t in await desk.search_tickets("status:open csv")] == ["101"]
        assert search.calls[0].request.url.params["query"] == "type:ticket status:open csv"
        ticket = await desk.get_ticket("101")
        assert ticket["comments"] == [{"author": "9001", "body": "It times out", "public": True}]
        await desk.add_comment("101", "Fixed in 4.2", public=True)
        assert _body(put.calls[0]) == {"ticket": {"comment": {"body": "Fixed in 4.2", "public": True}}}


async def test_http_errors_map_to_dexa_errors() -> None:
    with respx.mock(base_url=HUBSPOT_API) as api:
        api.get("/crm/v3/objects/deals/1").respond(401, json={"status": "error", "message": "expired token"})
        api.get("/crm/v3/objects/deals/2").respond(404, json={"message": "not found"})
        api.get("/crm/v3/objects/deals/3").respond(429, headers={"Retry-After": "10"})
        api.get("/crm/v3/objects/deals/4").respond(500, json={"message": "boom"})
        crm = HubSpotProvider(_rest(HUBSPOT_API, "HubSpot"))
        with pytest.raises(PermissionDeniedError, match="expired token"):
            await crm.get_deal("1")
        with pytest.raises(NotFoundError):
            await crm.get_deal("2")
        with pytest.raises(ToolError, match=r"rate limit.*10"):
            await crm.get_deal("3")
        with pytest.raises(ToolError, match="500: boom"):
            await crm.get_deal("4")
