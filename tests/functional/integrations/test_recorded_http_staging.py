"""The staging guarantee on the real provider clients (recorded HTTP): the send endpoint is never hit before
approval, and exactly once after 20 concurrent approvals. Gmail is connected through real OAuth (fake AS)."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
import respx
from fake_oauth_server import FakeAuthServer
from vendor_http import recorded, replay

from dexa.core.session import Session
from dexa.core.tools import SessionState, ToolContext, ToolRegistry
from dexa.integrations.oauth import ClientRegistration
from dexa.integrations.oauth_discovery import authorization_server
from dexa.integrations.providers.google import GMAIL_API
from dexa.integrations.providers.zendesk import zendesk_api
from dexa.integrations.session_tools import build_integrations, mcp_tools_for_session
from dexa.testing.fakes import DirWorkspace

# openapi-core checks no oauth2 security scheme and warns so; the tests assert the Authorization header.
pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings("ignore:Unsupported scheme type")]
ORG = "org_rest"


async def _session_tools(tmp_path: Path, store, integrations, sources: list[str]):
    session = Session(id="ses_rest", org_id=ORG, user_id="u", cwd=str(tmp_path), model="scripted")
    tools, manager = await mcp_tools_for_session(session, integrations=integrations, kv=store, env={})
    registry = ToolRegistry(tools)
    manager.attach(registry)
    loaded = await manager.load_sources(sources)
    assert all(not r.get("error") for r in loaded.values()), loaded
    counter = iter(range(1, 1000))

    def ctx() -> ToolContext:
        async def emit(type_: str, data) -> None:
            return None

        return ToolContext(
            session_id=session.id,
            org_id=ORG,
            tool_use_id=f"tu_{next(counter)}",
            workspace=DirWorkspace(tmp_path),
            state=SessionState(cwd=str(tmp_path)),
            emit=emit,
            kv=store,
        )

    return registry, manager, ctx


async def _twenty_approvals(integrations, output_id: str) -> list:
    return await asyncio.gather(
        *(integrations.queue.approve(ORG, output_id, by=f"r{i}") for i in range(20)), return_exceptions=True
    )


async def test_gmail_send_is_never_called_before_approval_and_once_after(tmp_path: Path, store, vault) -> None:
    fake = FakeAuthServer()
    fake.add_client("dexa", "https://dexa.test/cb")
    integrations = build_integrations(
        store,
        vault,
        redirect_uri="https://dexa.test/cb",
        oauth_http_options={"transport": httpx2.ASGITransport(app=fake.app())},
    )
    oauth = integrations.oauth
    assert oauth is not None
    await oauth.register_client(ClientRegistration(issuer=fake.issuer, client_id="dexa"))
    record = await integrations.registry.add(ORG, {"provider": "gmail"})
    async with oauth.http() as http:
        server = await authorization_server(http, fake.issuer)
        url = await oauth.begin(
            org_id=ORG, user_id="u", integration_id=record["id"], server=server, scopes=["mcp:read"], resource=None
        )
        params = parse_qs(urlsplit((await http.get(url)).headers["location"]).query)
    await integrations.registry.complete_connect(state=params["state"][0], code=params["code"][0], iss=params["iss"][0])
    registry, manager, ctx = await _session_tools(tmp_path, store, integrations, ["email"])
    try:
        with respx.mock(base_url=GMAIL_API) as api:
            create = api.post("/drafts").respond(200, json=recorded("gmail_compose", "POST", "/drafts"))
            api.get("/drafts/r-123").respond(200, json=recorded("gmail_compose", "GET", "/drafts/r-123"))
            send = api.post("/drafts/send").respond(200, json=recorded("gmail_compose", "POST", "/drafts/send"))
            draft = await registry.get("mcp__email__create_draft").run(
                {"to": ["ana.silva@acme.example"], "subject": "Pricing", "body": "Hello Ana"}, ctx()
            )
            assert json.loads(draft.content)["id"] == "r-123" and create.call_count == 1
            assert create.calls[0].request.headers["authorization"] == f"Bearer {fake.tokens[0].access_token}"
            staged = await registry.get("mcp__email__send_draft").run({"draft_id": "r-123"}, ctx())
            assert staged.content.startswith("Staged as") and send.call_count == 0
            (pending,) = await integrations.queue.list(ORG, status="pending")
            assert pending["recipients"] == ["ana.silva@acme.example"] and "Hello Ana" in pending["preview"]
            results = await _twenty_approvals(integrations, pending["id"])
            assert sum(isinstance(r, dict) for r in results) == 1
            assert send.call_count == 1 and json.loads(send.calls[0].request.content) == {"id": "r-123"}
    finally:
        await manager.aclose()


async def test_a_zendesk_public_comment_waits_for_approval(tmp_path: Path, store, vault) -> None:
    integrations = build_integrations(store, vault)
    await integrations.registry.add(
        ORG,
        {"provider": "zendesk", "api_key": "zd-token", "config": {"subdomain": "acme", "email": "agent@acme.example"}},
    )
    registry, manager, ctx = await _session_tools(tmp_path, store, integrations, ["tickets"])
    try:
        with respx.mock(base_url=zendesk_api("acme")) as api:
            api.get("/tickets/101.json").respond(200, json=recorded("zendesk_tickets", "GET", "/tickets/101.json"))
            api.get("/tickets/101/comments.json").respond(
                200, json=recorded("zendesk_tickets", "GET", "/tickets/101/comments.json")
            )
            put = api.put("/tickets/101.json").respond(
                200, json=recorded("zendesk_tickets", "PUT", "/tickets/101.json")
            )
            staged = await registry.get("mcp__tickets__add_comment").run(
                {"ticket_id": "101", "body": "Fixed in 4.2", "public": True}, ctx()
            )
            assert staged.content.startswith("Staged as") and put.call_count == 0
            (pending,) = await integrations.queue.list(ORG)
            results = await _twenty_approvals(integrations, pending["id"])
            assert sum(isinstance(r, dict) for r in results) == 1 and put.call_count == 1
            # A Zendesk API token is the Basic password of {email}/token (a Bearer API token is refused).
            basic = base64.b64encode(b"agent@acme.example/token:zd-token").decode()
            assert put.calls[0].request.headers["authorization"] == f"Basic {basic}"
    finally:
        await manager.aclose()


async def _connected(store, vault, provider: str):
    """build_integrations with `provider` connected through a real OAuth code flow (fake authorization server)."""
    fake = FakeAuthServer()
    fake.add_client("dexa", "https://dexa.test/cb")
    integrations = build_integrations(
        store,
        vault,
        redirect_uri="https://dexa.test/cb",
        oauth_http_options={"transport": httpx2.ASGITransport(app=fake.app())},
    )
    oauth = integrations.oauth
    assert oauth is not None
    await oauth.register_client(ClientRegistration(issuer=fake.issuer, client_id="dexa"))
    record = await integrations.registry.add(ORG, {"provider": provider})
    async with oauth.http() as http:
        server = await authorization_server(http, fake.issuer)
        url = await oauth.begin(
            org_id=ORG, user_id="u", integration_id=record["id"], server=server, scopes=["mcp:read"], resource=None
        )
        params = parse_qs(urlsplit((await http.get(url)).headers["location"]).query)
    await integrations.registry.complete_connect(state=params["state"][0], code=params["code"][0], iss=params["iss"][0])
    return integrations, fake


async def test_an_outlook_reply_is_drafted_in_the_conversation_and_sent_once_after_approval(
    tmp_path: Path, store, vault
) -> None:
    """Outlook (Microsoft Graph) behind the managed email server: the reply is threaded by createReply, the send
    is staged, and 20 concurrent approvals send it once; every Graph request matches Graph's description."""
    integrations, fake = await _connected(store, vault, "outlook")
    registry, manager, ctx = await _session_tools(tmp_path, store, integrations, ["email"])
    try:
        with replay("graph_mail", all_used=False) as api:
            draft = await registry.get("mcp__email__create_draft").run(
                {"to": ["ana.silva@acme.example"], "subject": "x", "body": "Here it is", "thread_id": "AAQkAGI2conv1="},
                ctx(),
            )
            assert json.loads(draft.content)["thread_id"] == "AAQkAGI2conv1="
            (reply,) = api.requests("POST", "/createReply")
            assert reply.headers["authorization"] == f"Bearer {fake.tokens[0].access_token}"
            staged = await registry.get("mcp__email__send_draft").run({"draft_id": "AAMkAGr1="}, ctx())
            assert staged.content.startswith("Staged as") and not api.requests("POST", "/send")
            (pending,) = await integrations.queue.list(ORG, status="pending")
            assert pending["recipients"] == ["ana.silva@acme.example"] and "Here it is" in pending["preview"]
            results = await _twenty_approvals(integrations, pending["id"])
            assert sum(isinstance(r, dict) for r in results) == 1
            assert len(api.requests("POST", "/AAMkAGr1=/send")) == 1
        assert api.checked == {"microsoft_graph.json"}
    finally:
        await manager.aclose()


@pytest.mark.parametrize(
    ("provider", "cassette", "reason"),
    [
        ("google_calendar", "google_freebusy_errors", "notFound"),
        ("outlook_calendar", "graph_calendar", "ErrorFreeBusyGenerationFailed"),
    ],
)
async def test_suggest_time_offers_no_slot_when_a_calendar_cannot_be_read(
    tmp_path: Path, store, vault, provider: str, cassette: str, reason: str
) -> None:
    """The vendor answers free/busy with an error for a calendar it cannot read: the agent is told whose
    availability is unknown and why, and is offered no slot (never one that treats that person as free)."""
    integrations, _ = await _connected(store, vault, provider)
    registry, manager, ctx = await _session_tools(tmp_path, store, integrations, ["calendar"])
    try:
        with replay(cassette, all_used=False) as api:
            result = await registry.get("mcp__calendar__suggest_time").run(
                {
                    "attendees": ["ana.silva@acme.example", "ceo@elsewhere.example"],
                    "duration_minutes": 30,
                    "time_min": "2030-01-07T00:00:00Z",
                    "time_max": "2030-01-08T00:00:00Z",
                },
                ctx(),
            )
        answer = json.loads(result.content)
        assert answer["slots"] == []
        assert answer["availability_unknown"] == [{"email": "ceo@elsewhere.example", "reason": reason}]
        assert len(api.calls) == 1 and api.checked
    finally:
        await manager.aclose()
