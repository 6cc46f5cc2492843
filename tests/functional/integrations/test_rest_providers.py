"""The real provider clients against recorded vendor responses (cassettes/): every request they send is checked
against the vendor's published description (vendor_http), then its shape and normalisation are asserted."""

from __future__ import annotations

import base64
import email
from email.message import Message

import pytest
from vendor_http import replay

from dexa.core.errors import ConfigError, NotFoundError, PermissionDeniedError, ToolError
from dexa.integrations.providers.base import AvailabilityUnknownError
from dexa.integrations.providers.google import CALENDAR_API, GMAIL_API, GmailProvider, GoogleCalendarProvider
from dexa.integrations.providers.http import RestClient
from dexa.integrations.providers.hubspot import HUBSPOT_API, HubSpotProvider
from dexa.integrations.providers.microsoft import OutlookCalendarProvider, OutlookMailProvider, graph_rest
from dexa.integrations.providers.slack import SLACK_API, SlackProvider
from dexa.integrations.providers.zendesk import ZendeskProvider, basic_user, check_config, zendesk_api

# openapi-core checks no oauth2 security scheme and warns so; these tests assert the Authorization header.
pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings("ignore:Unsupported scheme type")]


async def _token() -> str:
    return "ya29.test-token"


def _rest(base: str, vendor: str, **kwargs) -> RestClient:
    return RestClient(base, _token, vendor=vendor, **kwargs)


def _raw_mail(body: dict) -> Message:
    return email.message_from_bytes(base64.urlsafe_b64decode(body["message"]["raw"] + "=="))


async def test_google_calendar_pages_normalises_and_inserts_with_invites() -> None:
    with replay("google_calendar") as api:
        cal = GoogleCalendarProvider(_rest(CALENDAR_API, "Google Calendar"))
        listed = await cal.list_events(time_min="2030-01-07T00:00:00Z", time_max="2030-01-14T00:00:00Z")
        assert [e["id"] for e in listed] == ["evt1", "evt2"] and listed[1]["start"] == "2030-01-09"
        assert listed[0]["attendees"][1] == {
            "email": "ana.silva@acme.example",
            "name": "Ana Silva",
            "response": "tentative",
        }
        first, second = api.requests("GET", "/calendars/primary/events")
        assert first.url.params["singleEvents"] == "true" and first.url.params["orderBy"] == "startTime"
        assert second.url.params["pageToken"] == "p2"
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
        assert api.requests("POST", "/events")[0].url.params["sendUpdates"] == "all"
        assert api.json("POST", "/events")["attendees"] == [{"email": "ana.silva@acme.example"}]
        spans = await cal.busy(
            ["ana.silva@acme.example"], time_min="2030-01-07T00:00:00Z", time_max="2030-01-08T00:00:00Z"
        )
        assert spans == {"ana.silva@acme.example": [("2030-01-07T09:00:00Z", "2030-01-07T10:00:00Z")]}
        assert api.json("POST", "/freeBusy")["items"] == [{"id": "ana.silva@acme.example"}]
    assert api.checked == {"google_calendar.json"}


async def test_google_calendar_moves_an_event_and_answers_an_invitation() -> None:
    with replay("google_calendar_changes") as api:
        cal = GoogleCalendarProvider(_rest(CALENDAR_API, "Google Calendar"))
        assert (await cal.get_event("evt1"))["summary"] == "Acme — expansion review"
        moved = await cal.update_event(
            "evt1", {"start": "2030-01-07T14:00:00Z", "end": "2030-01-07T15:00:00Z"}, send_updates=False
        )
        patch = api.requests("PATCH", "/events/evt1")[0]
        assert patch.url.params["sendUpdates"] == "none" and moved["start"] == "2030-01-07T14:00:00Z"
        assert api.json("PATCH", "/events/evt1") == {
            "start": {"dateTime": "2030-01-07T14:00:00Z"},
            "end": {"dateTime": "2030-01-07T15:00:00Z"},
        }
        answered = await cal.respond_to_event("evt1", "accepted")
        # Only the user's own attendee entry changes; the others are sent back as they were.
        assert [a["responseStatus"] for a in api.json("PATCH", "/events/evt1", 1)["attendees"]] == [
            "accepted",
            "accepted",
        ]
        assert answered["attendees"][0]["response"] == "accepted"
    assert api.checked == {"google_calendar.json"}


async def test_google_freebusy_errors_are_unknown_never_free() -> None:
    with replay("google_freebusy_errors"):
        cal = GoogleCalendarProvider(_rest(CALENDAR_API, "Google Calendar"))
        with pytest.raises(AvailabilityUnknownError, match=r"ceo@elsewhere.example: notFound") as caught:
            await cal.busy(
                ["ana.silva@acme.example", "ceo@elsewhere.example"],
                time_min="2030-01-07T00:00:00Z",
                time_max="2030-01-08T00:00:00Z",
            )
    assert caught.value.unknown == {"ceo@elsewhere.example": "notFound"}
    assert caught.value.known == {"ana.silva@acme.example": [("2030-01-07T09:00:00Z", "2030-01-07T10:00:00Z")]}


async def test_gmail_drafts_are_rfc5322_and_sending_is_a_separate_call() -> None:
    with replay("gmail_compose") as api:
        gmail = GmailProvider(_rest(GMAIL_API, "Gmail"))
        draft = await gmail.create_draft(to=["ana.silva@acme.example"], subject="Pricing", body="Hello Ana")
        assert draft["id"] == "r-123" and draft["thread_id"] == "t-9" and not api.requests("POST", "/drafts/send")
        parsed = _raw_mail(api.json("POST", "/drafts"))
        assert parsed["To"] == "ana.silva@acme.example" and parsed["Subject"] == "Pricing"
        fetched = await gmail.get_draft("r-123")
        assert fetched["body"] == "Hello Ana\n" and fetched["to"] == ["ana.silva@acme.example"]
        threads = await gmail.search_threads("from:ana.silva@acme.example")
        assert threads == [
            {"id": "t-9", "subject": "Pricing for 50 seats", "snippet": "Could you send the pricing for 50 seats?"}
        ]
        sent = await gmail.send_draft("r-123")
        assert api.json("POST", "/drafts/send") == {"id": "r-123"} and sent["labels"] == ["SENT"]
    assert api.checked == {"gmail.json"}


async def test_gmail_reads_the_profile_and_a_full_thread_as_plain_text() -> None:
    with replay("gmail_read") as api:
        gmail = GmailProvider(_rest(GMAIL_API, "Gmail"))
        assert await gmail.profile() == {"email": "maya@northwind.example"}
        thread = await gmail.get_thread("t-9")
        (message,) = thread["messages"]
        assert message["body"] == "Could you send the pricing for 50 seats?\n"
        assert message["from"] == "Ana Silva <ana.silva@acme.example>" and thread["subject"] == "Pricing for 50 seats"
    assert api.checked == {"gmail.json"}


async def test_gmail_reply_threads_by_message_id_and_subject() -> None:
    """Gmail threads a reply only with threadId, In-Reply-To/References naming the last message it answers
    (not the user's own unsent draft) and the thread's subject."""
    with replay("gmail_reply") as api:
        gmail = GmailProvider(_rest(GMAIL_API, "Gmail"))
        draft = await gmail.create_draft(
            to=["ana.silva@acme.example"], subject="our pricing", body="Here it is", thread_id="t-9"
        )
        lookup = api.requests("GET", "/threads/t-9")[0].url.params
        assert lookup["format"] == "metadata" and "Message-ID" in lookup.get_list("metadataHeaders")
        sent = api.json("POST", "/drafts")
        assert sent["message"]["threadId"] == "t-9"
        mail = _raw_mail(sent)
        assert mail["In-Reply-To"] == "<CAF0b2@mail.acme.example>"
        assert mail["References"] == "<CAF0a1@mail.acme.example> <CAF0b2@mail.acme.example>"
        assert mail["Subject"] == "Re: Pricing for 50 seats"
        assert draft["in_reply_to"] == "<CAF0b2@mail.acme.example>" and draft["thread_id"] == "t-9"


async def test_hubspot_search_notes_tasks_with_associations_and_deal_updates() -> None:
    with replay("hubspot_crm") as api:
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
        assert api.json("POST", "/contacts/search")["query"] == "acme"
        assert (await crm.get_contact("501"))["deal_ids"] == ["9001"]
        assert (await crm.get_deal("9001"))["next_step"] == "Security review"
        await crm.create_note("501", "Wants SSO")
        note = api.json("POST", "/notes")
        assert note["properties"]["hs_note_body"] == "Wants SSO" and note["properties"]["hs_timestamp"].isdigit()
        assert note["associations"][0]["types"][0]["associationTypeId"] == 202
        task = await crm.create_task("501", "Send SSO docs", due="2030-01-10T09:00:00Z")
        assert api.json("POST", "/tasks")["associations"][0]["types"][0]["associationTypeId"] == 204
        assert task["status"] == "open"
        deal = await crm.update_deal("9001", {"stage": "contractsent", "amount": 48000})
        assert api.json("PATCH", "/deals/9001") == {"properties": {"dealstage": "contractsent", "amount": "48000"}}
        assert deal["amount"] == 48000.0 and deal["contact_ids"] == ["501"]
    assert api.checked == {"hubspot_contacts.json", "hubspot_deals.json", "hubspot_notes.json", "hubspot_tasks.json"}


async def test_slack_finds_private_channels_and_posts_form_encoded() -> None:
    """Private channels are listed (types=private_channel, the groups:read scope) and posted to by id."""
    with replay("slack_channels") as api:
        slack = SlackProvider(_rest(SLACK_API, "Slack"))
        (msg,) = await slack.read_channel("#support")
        assert msg["text"] == "Acme wants pricing" and msg["channel"] == "#support"
        listing = api.requests("GET", "/conversations.list")
        assert listing[0].url.params["types"] == "public_channel,private_channel"
        assert listing[1].url.params["cursor"] == "dGVhbTpDMDYxRkE1UEI="
        assert api.requests("GET", "/conversations.history")[0].url.params["channel"] == "C061EG9SL"
        replies = await slack.read_thread("#support", "1700000003.000300")
        assert [m["text"] for m in replies] == ["Acme wants pricing", "On it"]
        await slack.send_message("#deal-desk", "hi", thread_ts="1700000003.000300")
        post = api.requests("POST", "/chat.postMessage")[0]
        assert post.headers["content-type"] == "application/x-www-form-urlencoded"
        assert post.headers["authorization"] == "Bearer ya29.test-token"
        assert dict(x.split("=") for x in post.content.decode().split("&")) == {
            "channel": "G024BE91L",
            "text": "hi",
            "unfurl_links": "false",
            "thread_ts": "1700000003.000300",
        }
        with pytest.raises(NotFoundError, match="#general"):
            await slack.read_channel("#general")
    assert api.checked == {"slack.json"}


async def test_slack_errors_name_the_missing_scope() -> None:
    with replay("slack_errors"):
        slack = SlackProvider(_rest(SLACK_API, "Slack"))
        with pytest.raises(PermissionDeniedError, match="missing_scope groups:history; reconnect Slack"):
            await slack.read_channel("G024BE91L")
        with pytest.raises(PermissionDeniedError, match="not_in_channel"):
            await slack.send_message("C0X", "hi")


def test_slack_catalogue_asks_for_private_channel_scopes() -> None:
    from dexa.integrations.catalogue import CATALOGUE

    assert {"groups:read", "groups:history", "channels:read", "channels:history"} <= set(CATALOGUE["slack"].scopes)


async def test_zendesk_api_token_is_basic_email_token_and_oauth_is_bearer() -> None:
    config = {"subdomain": "acme", "email": "agent@acme.example"}
    with replay("zendesk_tickets") as api:
        desk = ZendeskProvider(_rest(zendesk_api("acme"), "Zendesk", basic_user=basic_user(config)))
        assert [t["id"] for t in await desk.search_tickets("status:open csv")] == ["101"]
        search = api.requests("GET", "/search.json")[0]
        assert search.url.params["query"] == "type:ticket status:open csv"
        expected = base64.b64encode(b"agent@acme.example/token:ya29.test-token").decode()
        assert search.headers["authorization"] == f"Basic {expected}"
        ticket = await desk.get_ticket("101")
        assert ticket["comments"] == [{"author": "9001", "body": "It times out", "public": True}]
        await desk.add_comment("101", "Fixed in 4.2", public=True)
        assert api.json("PUT", "/tickets/101.json") == {"ticket": {"comment": {"body": "Fixed in 4.2", "public": True}}}
    assert basic_user({"subdomain": "acme", "token_type": "oauth"}) is None
    with pytest.raises(ConfigError, match="email=AGENT_EMAIL"):
        check_config({"subdomain": "acme"})
    with pytest.raises(ConfigError, match="subdomain"):
        check_config({"subdomain": "acme.zendesk.com", "email": "a@b.c"})
    with pytest.raises(ConfigError, match="token_type"):
        check_config({"subdomain": "acme", "token_type": "password"})


async def test_http_errors_map_to_dexa_errors() -> None:
    with replay("hubspot_errors"):
        crm = HubSpotProvider(_rest(HUBSPOT_API, "HubSpot"))
        with pytest.raises(PermissionDeniedError, match="Authentication credentials not found"):
            await crm.get_deal("1")
        with pytest.raises(NotFoundError):
            await crm.get_deal("2")
        with pytest.raises(ToolError, match=r"rate limit.*10"):
            await crm.get_deal("3")
        with pytest.raises(ToolError, match="500: internal error"):
            await crm.get_deal("4")


async def test_a_request_off_the_vendor_description_fails_the_check() -> None:
    """The check can fail: a parameter of the wrong type, and a path the vendor does not have."""
    with replay("google_calendar", all_used=False):
        rest = _rest(CALENDAR_API, "Google Calendar")
        with pytest.raises(AssertionError, match=r"does not match google_calendar\.json"):
            await rest.request("GET", "/calendars/primary/events", params={"maxResults": "lots"})
    with replay("hubspot_crm", all_used=False):
        with pytest.raises(AssertionError, match=r"does not match hubspot_contacts\.json"):
            await _rest(HUBSPOT_API, "HubSpot").request("POST", "/crm/v3/objects/contacts/search", json={"limit": "x"})


async def test_outlook_calendar_pages_reads_schedules_and_responds() -> None:
    with replay("graph_calendar") as api:
        cal = OutlookCalendarProvider(graph_rest(_token))
        listed = await cal.list_events(time_min="2030-01-07T00:00:00Z", time_max="2030-01-14T00:00:00Z")
        assert [e["summary"] for e in listed] == ["Acme — expansion review", "Offsite"]
        assert listed[0]["start"] == "2030-01-07T10:00:00Z" and listed[0]["location"] == "Teams"
        assert listed[0]["attendees"] == [
            {"email": "maya@northwind.example", "name": "Maya Chen", "response": "accepted"},
            {"email": "ana.silva@acme.example", "name": "Ana Silva", "response": "tentative"},
        ]
        first, second = api.requests("GET", "/me/calendarView")
        assert first.url.params["startDateTime"] == "2030-01-07T00:00:00Z"
        assert 'outlook.timezone="UTC"' in first.headers["prefer"]
        assert second.url.params["$skip"] == "100" and second.url.params.get_list("startDateTime") == [
            "2030-01-07T00:00:00Z"
        ]
        with pytest.raises(AvailabilityUnknownError, match="ErrorFreeBusyGenerationFailed") as caught:
            await cal.busy(
                ["ana.silva@acme.example", "ceo@elsewhere.example"],
                time_min="2030-01-07T00:00:00+01:00",
                time_max="2030-01-08T00:00:00Z",
            )
        assert caught.value.known == {"ana.silva@acme.example": [("2030-01-07T09:00:00Z", "2030-01-07T10:00:00Z")]}
        schedule = api.json("POST", "/getSchedule")
        assert schedule["startTime"] == {"dateTime": "2030-01-06T23:00:00", "timeZone": "UTC"}
        created = await cal.create_event(
            {
                "summary": "Follow-up",
                "start": "2030-01-14T15:00:00Z",
                "end": "2030-01-14T15:30:00Z",
                "attendees": ["ana.silva@acme.example"],
            },
            send_updates=True,
        )
        assert created["id"] == "AAMkAGI2TG95AAA=" and created["attendees"][0]["response"] == "needsAction"
        assert api.json("POST", "/me/events")["attendees"] == [
            {"emailAddress": {"address": "ana.silva@acme.example"}, "type": "required"}
        ]
        moved = await cal.update_event(
            "AAMkAGI2TG95AAA=",
            {"summary": "Follow-up (moved)", "start": "2030-01-14T17:00:00+01:00", "end": "2030-01-14T16:30:00Z"},
            send_updates=True,
        )
        assert api.json("PATCH", "/me/events/AAMkAGI2TG95AAA=") == {
            "subject": "Follow-up (moved)",
            "start": {"dateTime": "2030-01-14T16:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2030-01-14T16:30:00", "timeZone": "UTC"},
        }
        assert moved["start"] == "2030-01-14T16:00:00Z"
        accepted = await cal.respond_to_event("AAMkAGI2TG93AAA=", "accepted")
        assert api.json("POST", "/accept") == {"sendResponse": True} and accepted["id"] == "AAMkAGI2TG93AAA="
    assert api.checked == {"microsoft_graph.json"}


async def test_outlook_mail_replies_in_the_conversation_and_sends_separately() -> None:
    with replay("graph_mail") as api:
        mail = OutlookMailProvider(graph_rest(_token))
        assert await mail.profile() == {"email": "maya@northwind.example", "name": "Maya Chen"}
        threads = await mail.search_threads("pricing")
        assert threads == [
            {"id": "AAQkAGI2conv1=", "subject": "RE: Pricing for 50 seats", "snippet": "And SSO, please."}
        ]
        assert api.requests("GET", "/me/messages")[0].url.params["$search"] == '"pricing"'
        thread = await mail.get_thread("AAQkAGI2conv1=")
        assert [m["body"] for m in thread["messages"]] == [
            "Could you send the pricing for 50 seats?",
            "And SSO, please.",
        ]
        assert api.requests("GET", "/me/messages")[1].url.params["$filter"] == "conversationId eq 'AAQkAGI2conv1='"
        draft = await mail.create_draft(
            to=["ana.silva@acme.example"], subject="ignored", body="Here it is", thread_id="AAQkAGI2conv1="
        )
        # The reply answers the newest received message (not Maya's own half-written draft), through createReply.
        assert api.json("POST", "/AAMkAGm2=/createReply") == {
            "message": {
                "toRecipients": [{"emailAddress": {"address": "ana.silva@acme.example"}}],
                "ccRecipients": [],
                "body": {"contentType": "text", "content": "Here it is"},
            }
        }
        assert draft["thread_id"] == "AAQkAGI2conv1=" and draft["subject"] == "RE: Pricing for 50 seats"
        assert not api.requests("POST", "/send")
        fetched = await mail.get_draft("AAMkAGr1=")
        assert fetched["body"] == "Here it is" and fetched["to"] == ["ana.silva@acme.example"]
        assert (await mail.send_draft("AAMkAGr1="))["status"] == "sent"
        fresh = await mail.create_draft(to=["ana.silva@acme.example"], subject="Intro", body="Hello")
        assert api.json("POST", "/me/messages")["subject"] == "Intro" and fresh["thread_id"] == "AAQkAGI2conv2="
    assert api.checked == {"microsoft_graph.json"}
