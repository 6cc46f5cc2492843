"""Dexa's managed MCP servers in-process, in both protocol eras: tools, annotations, and the agent-mode guard that
makes a send impossible even if staging were bypassed."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client

from dexa.integrations.providers.demo import DemoCompany
from dexa.integrations.servers import BUILDERS, build_server
from dexa.integrations.servers.calendar import free_slots

pytestmark = pytest.mark.anyio

EXPECTED = {
    "calendar": {"list_events", "get_event", "suggest_time", "create_event", "update_event", "respond_to_event"},
    "email": {"get_profile", "search_threads", "get_thread", "get_draft", "create_draft", "send_draft"},
    "crm": {"search_contacts", "get_contact", "get_deal", "update_deal", "create_note", "create_task"},
    "chat": {"read_channel", "read_thread", "send_message"},
    "tickets": {"search_tickets", "get_ticket", "create_ticket", "add_comment"},
    "meetings": {"list_recordings", "get_transcript"},
}


@pytest.fixture
def company(tmp_path: Path):
    demo = DemoCompany(tmp_path / "demo.db")
    yield demo
    demo.close()


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_every_server_lists_its_tools_with_read_only_hints(company: DemoCompany, mode: str) -> None:
    assert set(BUILDERS) == {*EXPECTED, "database"}  # database: tests/integration/database, on real databases
    for kind in EXPECTED:
        async with Client(build_server(kind, getattr(company, kind)), mode=mode) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            assert set(tools) == EXPECTED[kind], kind
            for name, tool in tools.items():
                is_read = name.startswith(("list_", "get_", "search_", "read_", "suggest_"))
                assert tool.annotations is not None and tool.annotations.read_only_hint is is_read, name


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_agent_mode_refuses_to_send_even_when_called_directly(company: DemoCompany, mode: str) -> None:
    draft = await company.email.create_draft(to=["a@b.example"], subject="s", body="b")
    async with Client(build_server("email", company.email, mode="agent"), mode=mode) as client:
        result = await client.call_tool("send_draft", {"draft_id": draft["id"]})
        assert result.is_error and "Nothing was sent" in result.content[0].text
        created = await client.call_tool("create_draft", {"to": ["a@b.example"], "subject": "x", "body": "y"})
        assert not created.is_error
    async with Client(build_server("chat", company.chat, mode="agent"), mode=mode) as client:
        assert (await client.call_tool("send_message", {"channel": "#sales", "text": "x"})).is_error
    assert company.outbox() == []
    async with Client(build_server("email", company.email, mode="control"), mode=mode) as client:
        sent = await client.call_tool("send_draft", {"draft_id": draft["id"]})
        assert not sent.is_error and sent.structured_content["draft_id"] == draft["id"]
    assert len(company.outbox()) == 1


async def test_suggest_time_avoids_busy_attendees_and_stays_in_working_hours(company: DemoCompany) -> None:
    monday = company.week_start.isoformat()
    async with Client(build_server("calendar", company.calendar)) as client:
        result = await client.call_tool(
            "suggest_time",
            {
                "attendees": ["maya@northwind.example"],
                "duration_minutes": 60,
                "time_min": f"{monday}T08:00:00Z",
                "time_max": f"{monday}T13:00:00Z",
            },
        )
    slots = result.structured_content["slots"]
    assert slots[0]["start"].endswith("09:00:00+00:00")  # 10:00-11:00 is the Acme meeting
    assert all(not s["start"].startswith(f"{monday}T10") for s in slots)


def test_free_slots_skip_weekends() -> None:
    slots = free_slots({}, time_min="2030-01-05T00:00:00Z", time_max="2030-01-07T12:00:00Z", minutes=30)
    assert slots[0]["start"].startswith("2030-01-07T09:00")  # Saturday and Sunday skipped


async def test_bad_input_is_an_error_result_naming_the_problem(company: DemoCompany) -> None:
    async with Client(build_server("calendar", company.calendar, mode="control")) as client:
        naive = await client.call_tool("list_events", {"time_min": "2030-01-01T00:00:00", "time_max": "x"})
        assert naive.is_error and "timezone" in naive.content[0].text
        backwards = await client.call_tool(
            "create_event", {"summary": "s", "start": "2030-01-02T10:00:00Z", "end": "2030-01-02T09:00:00Z"}
        )
        assert backwards.is_error and "after start" in backwards.content[0].text
    async with Client(build_server("crm", company.crm, mode="control")) as client:
        bad = await client.call_tool("update_deal", {"deal_id": "d_acme", "properties": {"owner": "x"}})
        assert bad.is_error and "unknown deal field" in bad.content[0].text
        missing = await client.call_tool("get_contact", {"contact_id": "nobody"})
        assert missing.is_error and "not found" in missing.content[0].text
