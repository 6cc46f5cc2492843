"""Staged outputs end to end over the demo org: nothing leaves before approval, approval executes exactly once,
edits are honoured, rejections stick, and every decision is an event."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from integrations_kit import ORG, demo_org

from dexa.core.errors import ConflictError, NotFoundError
from dexa.core.events import EventType

pytestmark = pytest.mark.anyio


async def test_a_draft_is_written_but_sending_is_only_staged(tmp_path: Path, store) -> None:
    org = await demo_org(tmp_path, store)
    try:
        draft_id = await org.draft()
        staged = await org.call("mcp__email__send_draft", {"draft_id": draft_id})
        assert not staged.is_error and staged.content.startswith("Staged as out_") and "NOT been sent" in staged.content
        assert org.demo.outbox() == []
        (pending,) = await org.integrations.queue.list(ORG, status="pending")
        assert pending["kind"] == "email" and pending["recipients"] == ["ana.silva@acme.example"]
        assert pending["arguments"] == {"draft_id": draft_id} and "Subject: Pricing" in pending["preview"]
        assert pending["session_id"] == "ses_1" and pending["tool_use_id"] == "tu_2"
        assert pending["context"]["lookup"]["subject"] == "Pricing"
        assert EventType.OUTPUT_STAGED in org.types()
    finally:
        await org.aclose()


async def test_twenty_concurrent_approvals_send_exactly_once(tmp_path: Path, store) -> None:
    org = await demo_org(tmp_path, store)
    try:
        draft_id = await org.draft()
        await org.call("mcp__email__send_draft", {"draft_id": draft_id})
        (pending,) = await org.integrations.queue.list(ORG)
        assert org.demo.outbox() == []
        results = await asyncio.gather(
            *(org.integrations.queue.approve(ORG, pending["id"], by=f"reviewer{i}") for i in range(20)),
            return_exceptions=True,
        )
        wins = [r for r in results if isinstance(r, dict)]
        assert len(wins) == 1 and wins[0]["status"] == "executed"
        assert all(isinstance(r, ConflictError) for r in results if not isinstance(r, dict))
        assert len(org.demo.outbox()) == 1 and org.demo.outbox()[0]["draft_id"] == draft_id
        ledger = await org.integrations.queue.ledger(ORG)
        assert [e["output_id"] for e in ledger] == [pending["id"]]
        types = [t for _, t, _ in org.events]
        assert types.count(EventType.OUTPUT_APPROVED) == 1 and types.count(EventType.OUTPUT_EXECUTED) == 1
    finally:
        await org.aclose()


async def test_an_edited_approval_executes_the_edited_arguments(tmp_path: Path, store) -> None:
    org = await demo_org(tmp_path, store)
    try:
        staged = await org.call(
            "mcp__calendar__create_event",
            {
                "summary": "Acme follow-up",
                "start": "2030-01-07T15:00:00Z",
                "end": "2030-01-07T15:30:00Z",
                "attendees": ["ana.silva@acme.example"],
            },
        )
        assert staged.content.startswith("Staged as")
        assert org.demo.invitations() == []
        (pending,) = await org.integrations.queue.list(ORG)
        edited = {
            **pending["arguments"],
            "start": "2030-01-08T10:00:00Z",
            "end": "2030-01-08T10:30:00Z",
            "attendees": ["ana.silva@acme.example", "cfo@acme.example"],
        }
        done = await org.integrations.queue.approve(ORG, pending["id"], by="maya", edited_args=edited)
        assert done["status"] == "executed" and done["edited"] and done["final_arguments"] == edited
        event = json.loads(done["result"]["content"])
        assert event["start"] == "2030-01-08T10:00:00+00:00"
        assert sorted(i["attendee"] for i in org.demo.invitations()) == ["ana.silva@acme.example", "cfo@acme.example"]
    finally:
        await org.aclose()


async def test_a_rejected_output_never_runs_and_cannot_be_approved_later(tmp_path: Path, store) -> None:
    org = await demo_org(tmp_path, store)
    try:
        await org.call("mcp__chat__send_message", {"channel": "#sales", "text": "We closed Acme!"})
        (pending,) = await org.integrations.queue.list(ORG)
        rejected = await org.integrations.queue.reject(ORG, pending["id"], by="lead", reason="not yet public")
        assert rejected["status"] == "rejected" and rejected["reason"] == "not yet public"
        with pytest.raises(ConflictError, match="rejected"):
            await org.integrations.queue.approve(ORG, pending["id"], by="someone")
        assert not [m for m in await org.demo.chat.read_channel("#sales") if m["user"] == "dexa"]
        assert EventType.OUTPUT_REJECTED in [t for _, t, _ in org.events]
        with pytest.raises(NotFoundError):
            await org.integrations.queue.approve("org_other", pending["id"], by="x")
    finally:
        await org.aclose()


async def test_batch_approval_reports_each_item(tmp_path: Path, store) -> None:
    org = await demo_org(tmp_path, store)
    try:
        await org.call("mcp__crm__create_note", {"contact_id": "c_acme", "body": "Wants SSO"})
        await org.call("mcp__crm__update_deal", {"deal_id": "d_acme", "properties": {"stage": "negotiation"}})
        ids = [o["id"] for o in await org.integrations.queue.list(ORG)]
        results = await org.integrations.queue.approve_many(ORG, [*ids, "out_missing"], by="maya")
        assert [r.get("status") for r in results[:2]] == ["executed", "executed"]
        assert results[2]["error"] == "not_found"
        assert (await org.demo.crm.get_deal("d_acme"))["stage"] == "negotiation"
    finally:
        await org.aclose()


async def test_reads_and_internal_comments_run_directly_public_comments_are_staged(tmp_path: Path, store) -> None:
    org = await demo_org(tmp_path, store)
    try:
        found = await org.call("mcp__tickets__search_tickets", {"query": "status:open CSV"})
        assert len(json.loads(found.content)["tickets"]) == 3
        internal = await org.call("mcp__tickets__add_comment", {"ticket_id": "101", "body": "Repro'd", "public": False})
        assert not internal.is_error and "Repro'd" in internal.content
        public = await org.call("mcp__tickets__add_comment", {"ticket_id": "101", "body": "Fixed!", "public": True})
        assert public.content.startswith("Staged as")
        (pending,) = await org.integrations.queue.list(ORG)
        assert pending["kind"] == "ticket_comment" and pending["recipients"] == ["ana.silva@acme.example"]
        comments = (await org.demo.tickets.get_ticket("101"))["comments"]
        assert [c["public"] for c in comments] == [False]
    finally:
        await org.aclose()


async def test_a_retried_tool_call_stages_once(tmp_path: Path, store) -> None:
    org = await demo_org(tmp_path, store)
    try:
        ctx = org.ctx()
        tool = org.registry.get("mcp__chat__send_message")
        first = await tool.run({"channel": "#sales", "text": "hello"}, ctx)
        second = await tool.run({"channel": "#sales", "text": "hello"}, ctx)
        assert first.data["output_id"] == second.data["output_id"]
        assert len(await org.integrations.queue.list(ORG)) == 1
    finally:
        await org.aclose()
