"""Edits in review: every field of an email, the body included, even when the agent only sent a draft by id. What
executes is exactly what was approved, the hash is re-pinned, and the ledger keeps the executed recipients."""

from __future__ import annotations

from pathlib import Path

import pytest
from integrations_kit import ORG, demo_org

from dexa.integrations.outputs.email_edit import reviewable
from dexa.integrations.outputs.models import PendingOutput, args_hash
from dexa.integrations.outputs.notice import decision_text

pytestmark = pytest.mark.anyio


async def test_a_drafts_body_and_recipients_edited_in_review_are_what_is_sent(tmp_path: Path, store) -> None:
    org = await demo_org(tmp_path, store)
    try:
        draft_id = await org.draft()
        await org.call("mcp__email__send_draft", {"draft_id": draft_id})
        (pending,) = await org.integrations.queue.list(ORG, status="pending")
        shown = reviewable(PendingOutput.from_dict(pending))
        assert shown["draft_id"] == draft_id and shown["subject"] == "Pricing" and "body" in shown
        edited = {**shown, "to": ["cfo@acme.example"], "body": "Hi, the reviewed pricing is attached."}

        done = await org.integrations.queue.approve(ORG, pending["id"], by="maya", edited_args=edited)

        assert done["status"] == "executed", done["error"]
        [sent] = org.demo.outbox()
        assert sent["to"] == ["cfo@acme.example"] and sent["body"] == "Hi, the reviewed pricing is attached."
        assert sent["draft_id"] != draft_id, "the edit is sent as a new draft; the agent's draft is left alone"
        assert done["final_hash"] == args_hash(edited) != done["args_hash"]
        assert done["recipients"] == ["cfo@acme.example"]
        assert set(done["changes"]) == {"to", "body"}
        [entry] = await org.integrations.queue.ledger(ORG)
        assert entry["status"] == "executed" and entry["edited"] and entry["recipients"] == ["cfo@acme.example"]
        assert entry["arguments"]["body"] == "Hi, the reviewed pricing is attached."
        assert entry["changes"]["to"] == {"from": ["ana.silva@acme.example"], "to": ["cfo@acme.example"]}
        told = decision_text(PendingOutput.from_dict(done))
        assert "approved by maya with edits" in told and "executed exactly once" in told
    finally:
        await org.aclose()


async def test_approving_with_the_shown_fields_unchanged_is_not_an_edit(tmp_path: Path, store) -> None:
    org = await demo_org(tmp_path, store)
    try:
        draft_id = await org.draft()
        await org.call("mcp__email__send_draft", {"draft_id": draft_id})
        (pending,) = await org.integrations.queue.list(ORG, status="pending")
        shown = reviewable(PendingOutput.from_dict(pending))
        done = await org.integrations.queue.approve(ORG, pending["id"], by="maya", edited_args=shown)
        assert done["status"] == "executed" and not done["edited"]
        assert done["final_arguments"] == {"draft_id": draft_id}
        assert [m["draft_id"] for m in org.demo.outbox()] == [draft_id]
    finally:
        await org.aclose()


async def test_a_rejection_and_a_failure_are_in_the_ledger_with_their_reason(tmp_path: Path, store) -> None:
    org = await demo_org(tmp_path, store)
    try:
        first = await org.draft()
        await org.call("mcp__email__send_draft", {"draft_id": first})
        (pending,) = await org.integrations.queue.list(ORG, status="pending")
        await org.integrations.queue.reject(ORG, pending["id"], by="maya", reason="wrong customer")
        entries = {e["output_id"]: e for e in await org.integrations.queue.ledger(ORG)}
        assert entries[pending["id"]]["status"] == "rejected"
        assert entries[pending["id"]]["reason"] == "wrong customer"
        assert org.demo.outbox() == []
    finally:
        await org.aclose()


async def test_the_api_reports_a_failed_outputs_real_error(tmp_path: Path, store) -> None:
    """The API's output resource carries the integration's error for a failed output (it once read the empty
    rejection reason), and the rejection reason for a rejected one."""
    from types import SimpleNamespace

    from dexa.api.schemas.approvals import OutputPublic
    from dexa.server_app import OutputsPort

    org = await demo_org(tmp_path, store)
    try:
        draft_id = await org.draft()
        await org.call("mcp__email__send_draft", {"draft_id": draft_id})
        await org.call("mcp__email__send_draft", {"draft_id": draft_id})
        first, second = await org.integrations.queue.list(ORG, status="pending")
        port = OutputsPort(SimpleNamespace(integrations=org.integrations))  # type: ignore[arg-type]
        sent = await port.approve(ORG, first["session_id"], first["id"], by="maya")
        assert sent.status == "executed" and sent.error == ""
        failed = OutputPublic.of(await port.approve(ORG, second["session_id"], second["id"], by="maya"))
        assert failed.status == "failed" and "already sent" in failed.error, failed
        assert len(org.demo.outbox()) == 1
        draft_two = await org.draft()
        await org.call("mcp__email__send_draft", {"draft_id": draft_two})
        (third,) = await org.integrations.queue.list(ORG, status="pending")
        rejected = await port.reject(ORG, third["session_id"], third["id"], by="maya", reason="not now")
        assert rejected.status == "rejected" and rejected.error == "not now"
    finally:
        await org.aclose()
