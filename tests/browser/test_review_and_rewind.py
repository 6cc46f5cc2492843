"""The review queue (edit + approve one output, reject the other, see results, signed-link landing) and the
checkpoints timeline (pick a point, read the side-effect ledger, rewind code and conversation)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from web_harness import EMAIL, SLACK, Live, api, run_main_session, wait_until

pytestmark = pytest.mark.browser


def test_a_reviewer_edits_and_approves_one_output_and_rejects_the_other(page: Any, live: Live) -> None:
    sid = run_main_session(live)
    page.goto(f"{live.url}/ui/review?session={sid}")
    email = page.locator("article.output", has_text=EMAIL["to"])
    slack = page.locator("article.output", has_text=SLACK["channel"])
    email.wait_for()
    assert "To: dana@example.com" in email.inner_text()
    assert "To: #sales (channel)" in slack.inner_text()
    email.get_by_text("Context: why the agent drafted this").click()
    assert "follow-up after the demo call" in email.locator("details.context").inner_text()

    email.get_by_label("subject").fill("Demo follow-up (edited)")
    email.get_by_role("button", name="Approve & send").click()
    email.get_by_text("Sent.").wait_for()
    assert "edited" in email.inner_text() and "msg_" in email.inner_text()

    slack.get_by_label("Reason").fill("not this channel")
    slack.focus()
    page.keyboard.press("d")  # reject the focused output
    slack.get_by_text("Rejected by").wait_for()

    outs = {o["tool"]: o for o in api(live, "GET", f"/sessions/{sid}/pending-outputs")["data"]}
    assert outs["SendEmail"]["status"] == "executed" and outs["SendEmail"]["edited"]
    assert outs["PostSlack"]["status"] == "rejected" and outs["PostSlack"]["error"] == "not this channel"
    sent = [o for o in live.executed if o.session_id == sid]
    assert len(sent) == 1 and sent[0].arguments == {**EMAIL, "subject": "Demo follow-up (edited)"}
    # Nothing pending in this session any more: the default view says so.
    page.get_by_role("button", name="Pending", exact=True).click()
    page.get_by_text("Nothing waits for review.").wait_for()


def test_batch_approval_and_a_signed_link_landing_on_its_output(page: Any, live: Live) -> None:
    sid = run_main_session(live, "[main] batch")
    outs = api(live, "GET", f"/sessions/{sid}/pending-outputs")["data"]
    target = next(o for o in outs if o["tool"] == "PostSlack")
    claims = (
        base64.urlsafe_b64encode(
            json.dumps({"o": "org_local", "i": target["id"], "a": "approve", "e": 4102444800, "n": "abc"}).encode()
        )
        .decode()
        .rstrip("=")
    )
    # ApprovalLinks.url points at /outputs/review?token=...; the UI router forwards it to the queue.
    page.goto(f"{live.url}/outputs/review?token={claims}.sig")
    page.wait_for_url("**/ui/review?token=*")
    card = page.locator(f"article.output[data-output-id='{target['id']}']")
    card.wait_for()
    assert "highlight" in (card.get_attribute("class") or "")
    assert page.evaluate("document.activeElement.dataset.outputId") == target["id"]
    assert "approve output" in page.get_by_role("note").inner_text()

    page.goto(f"{live.url}/ui/review?session={sid}")
    # Ticked before the queue has loaded on purpose: the selection must cover what arrives.
    page.get_by_label("Select all pending").check()
    page.get_by_text("2 selected").wait_for()
    page.get_by_role("button", name="Approve selected").click()
    wait_until(
        lambda: all(o["status"] == "executed" for o in api(live, "GET", f"/sessions/{sid}/pending-outputs")["data"]),
        10,
        "both outputs executed",
    )
    page.get_by_text("Approved 2 of 2").wait_for()


def test_rewinding_from_the_timeline_restores_files_and_shows_the_ledger_first(page: Any, live: Live) -> None:
    sid = run_main_session(live, "[main] rewind me")
    written = live.workspace / "hello_rewind_me.py"
    assert written.exists()
    # An executed output after the checkpoint: the page must list it before the rewind.
    email = next(o for o in api(live, "GET", f"/sessions/{sid}/pending-outputs")["data"] if o["tool"] == "SendEmail")
    api(live, "POST", f"/sessions/{sid}/pending-outputs/{email['id']}/approve", {})
    oldest = api(live, "GET", f"/sessions/{sid}/checkpoints")["data"][-1]  # newest first: the prompt checkpoint
    assert oldest["reason"] == "prompt"

    page.goto(f"{live.url}/ui/sessions/{sid}")
    page.get_by_role("link", name="Checkpoints").click()
    page.wait_for_url(f"**/ui/sessions/{sid}/checkpoints")
    # The timeline itself shows the ledger entry next to the checkpoint that was current when it happened.
    assert "was executed" in page.locator("[data-timeline-effects]").first.inner_text()
    page.locator(f"input[value='{oldest['id']}']").check()
    ledger = page.locator("[data-ledger=list]")
    ledger.wait_for()
    assert "was executed" in ledger.inner_text() and "cannot be undone" in ledger.inner_text()
    page.get_by_label("Code and conversation").check()
    page.get_by_role("button", name="Rewind…").click()
    dialog = page.get_by_role("dialog")
    assert "was executed" in dialog.inner_text()
    dialog.get_by_role("button", name="Confirm rewind").click()
    report = page.locator("[data-rewind=ok]")
    report.wait_for()
    assert "message(s) hidden" in report.inner_text()
    assert not written.exists()  # the file the agent wrote after the checkpoint is gone again
    page.get_by_role("link", name="← Back to the run").click()
    page.get_by_text(f"Rewound both to {oldest['id']}").wait_for()


def test_a_verified_approval_link_is_redeemed_once_from_the_review_page(page: Any, live: Live) -> None:
    from dexa.integrations.outputs.links import ApprovalLinks

    sid = run_main_session(live, "[main] link")
    target = next(o for o in api(live, "GET", f"/sessions/{sid}/pending-outputs")["data"] if o["tool"] == "PostSlack")
    ctx = live.app.state.dexa
    ctx.links = ApprovalLinks(b"browser-test-secret-0123456789", base_url=live.url, kv=live.runtime.store)
    try:
        page.goto(ctx.links.url("org_local", target["id"], "approve"))
        page.wait_for_url("**/ui/review?token=*")
        page.get_by_role("button", name="Approve via this link").click()
        page.get_by_text("Done: executed.").wait_for()
        done = next(o for o in api(live, "GET", f"/sessions/{sid}/pending-outputs")["data"] if o["id"] == target["id"])
        assert done["status"] == "executed"
        page.reload()
        page.get_by_text("Already executed.").wait_for()
    finally:
        ctx.links = None
