"""Signed approval links for Slack and email: single use, expiring, tamper-proof."""

from __future__ import annotations

from pathlib import Path

import pytest
from integrations_kit import ORG, demo_org

from dexa.core.errors import ConflictError, PermissionDeniedError
from dexa.integrations.outputs.links import ApprovalLinks

pytestmark = pytest.mark.anyio


async def test_an_approve_link_executes_once_and_cannot_be_reused(tmp_path: Path, store) -> None:
    org = await demo_org(tmp_path, store)
    try:
        await org.call("mcp__email__send_draft", {"draft_id": await org.draft()})
        (pending,) = await org.integrations.queue.list(ORG)
        links = org.integrations.links
        assert links is not None
        url = links.url(ORG, pending["id"], "approve")
        assert url.startswith("https://dexa.test/outputs/review?token=")
        token = links.token(ORG, pending["id"], "approve")
        assert links.peek(token).output_id == pending["id"]
        done = await links.redeem(token, org.integrations.queue, by="maya via slack")
        assert done["status"] == "executed" and len(org.demo.outbox()) == 1
        with pytest.raises(ConflictError, match="already used"):
            await links.redeem(token, org.integrations.queue)
    finally:
        await org.aclose()


async def test_tampered_and_expired_links_are_refused(tmp_path: Path, store, clock) -> None:
    links = ApprovalLinks(b"s" * 32, base_url="https://dexa.test", kv=store, clock=clock)
    token = links.token("org", "out_1", "approve", ttl_s=60)
    body, sig = token.split(".")
    other = ApprovalLinks(b"t" * 32, base_url="https://dexa.test", kv=store, clock=clock)
    with pytest.raises(PermissionDeniedError, match="signature"):
        other.peek(token)
    with pytest.raises(PermissionDeniedError, match="signature"):
        links.peek(body + "x." + sig)
    clock.now += 61
    with pytest.raises(PermissionDeniedError, match="expired"):
        links.peek(token)


async def test_a_reject_link_records_the_rejection(tmp_path: Path, store) -> None:
    org = await demo_org(tmp_path, store)
    try:
        await org.call("mcp__chat__send_message", {"channel": "#sales", "text": "hi"})
        (pending,) = await org.integrations.queue.list(ORG)
        links = org.integrations.links
        assert links is not None
        done = await links.redeem(links.token(ORG, pending["id"], "reject"), org.integrations.queue, by="lead")
        assert done["status"] == "rejected" and done["decided_by"] == "lead"
    finally:
        await org.aclose()
