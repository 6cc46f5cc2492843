"""The review queue on `dexa serve` with the demo company's calendar (edit + approve one staged invite, reject the
other, see results, a signed link landing and redeemed) and the checkpoints timeline (pick a point, read the
side-effect ledger, rewind code and conversation)."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from served import Served, run_main_session

from dexa.integrations.outputs.links import ApprovalLinks

pytestmark = pytest.mark.browser

DANA, SAM = "dana@acme.example", "sam@acme.example"


def _outputs(served: Served, sid: str) -> list[dict[str, Any]]:
    return served.call("GET", f"/sessions/{sid}/pending-outputs")["data"]


def _invited(served: Served) -> list[tuple[str, str]]:
    """(summary, attendee) of every invitation the demo company's calendar sent."""
    db = sqlite3.connect(served.home / "state" / "demo-company.db")
    try:
        rows = db.execute(
            "SELECT e.summary, i.attendee FROM invitations i JOIN events e ON e.id = i.event_id ORDER BY i.at"
        ).fetchall()
    finally:
        db.close()
    return [(str(s), str(a)) for s, a in rows]


def _links(served: Served) -> ApprovalLinks:
    """Links signed with this installation's key (DEXA_HOME/link.key), as the reviewer notices carry them."""
    return ApprovalLinks((served.home / "link.key").read_bytes(), base_url=served.url, kv=None)  # type: ignore[arg-type]


def test_a_reviewer_edits_and_approves_one_output_and_rejects_the_other(page: Any, served: Served) -> None:
    sid = run_main_session(served)
    page.goto(f"{served.url}/ui/review?session={sid}")
    dana = page.locator("article.output", has_text=DANA)
    sam = page.locator("article.output", has_text=SAM)
    dana.wait_for()
    sam.wait_for()
    assert "Acme follow-up 1" in dana.inner_text() and "Acme follow-up 2" in sam.inner_text()

    dana.locator("[data-arg=summary]").fill("Acme follow-up (moved)")
    dana.locator("[data-act=approve]").click()
    dana.locator(".result").wait_for()
    assert "edited" in dana.inner_text()

    sam.get_by_label("Reason").fill("not this week")
    sam.focus()
    page.keyboard.press("d")  # reject the focused output
    sam.get_by_text("Rejected by").wait_for()

    by_who = {("dana" if DANA in str(o) else "sam"): o for o in _outputs(served, sid)}
    assert by_who["dana"]["status"] == "executed" and by_who["dana"]["edited"], by_who
    assert by_who["sam"]["status"] == "rejected" and by_who["sam"]["error"] == "not this week", by_who
    assert ("Acme follow-up (moved)", DANA) in _invited(served)
    assert not any(a == SAM for _s, a in _invited(served))
    # Nothing pending in this session any more: the default view says so.
    page.get_by_role("button", name="Pending", exact=True).click()
    page.get_by_text("Nothing waits for review.").wait_for()


def test_batch_approval_and_a_signed_link_landing_on_its_output(page: Any, served: Served) -> None:
    sid = run_main_session(served, "[main] batch")
    target = next(o for o in _outputs(served, sid) if SAM in str(o))
    page.goto(_links(served).url("org_local", target["id"], "approve"))
    page.wait_for_url("**/ui/review?token=*")
    card = page.locator(f"article.output[data-output-id='{target['id']}']")
    card.wait_for()
    assert "highlight" in (card.get_attribute("class") or "")
    assert page.evaluate("document.activeElement.dataset.outputId") == target["id"]
    assert "approve output" in page.get_by_role("note").inner_text()

    page.goto(f"{served.url}/ui/review?session={sid}")
    # Ticked before the queue has loaded on purpose: the selection must cover what arrives.
    page.get_by_label("Select all pending").check()
    page.get_by_text("2 selected").wait_for()
    page.get_by_role("button", name="Approve selected").click()
    # The toast first: it shows for 4 s once both approvals have answered, and a wait on the server before it
    # could outlast it on a loaded machine. 20 s: two executions through the demo company's calendar server.
    page.get_by_text("Approved 2 of 2").wait_for(timeout=20_000)
    assert all(o["status"] == "executed" for o in _outputs(served, sid)), _outputs(served, sid)


def test_a_verified_approval_link_is_redeemed_once_from_the_review_page(page: Any, served: Served) -> None:
    sid = run_main_session(served, "[main] link")
    target = next(o for o in _outputs(served, sid) if SAM in str(o))
    page.goto(_links(served).url("org_local", target["id"], "approve"))
    page.wait_for_url("**/ui/review?token=*")
    page.get_by_role("button", name="Approve via this link").click()
    page.get_by_text("Done: executed.").wait_for()
    done = next(o for o in _outputs(served, sid) if o["id"] == target["id"])
    assert done["status"] == "executed"
    page.reload()
    page.get_by_text("Already executed.").wait_for()


def test_rewinding_from_the_timeline_restores_files_and_shows_the_ledger_first(page: Any, served: Served) -> None:
    sid = run_main_session(served, "[main] rewind me")
    written = served.ws / "hello_rewind_me.py"
    assert written.exists()
    # An executed output after the checkpoint: the page must list it before the rewind.
    invite = next(o for o in _outputs(served, sid) if DANA in str(o))
    served.call("POST", f"/sessions/{sid}/pending-outputs/{invite['id']}/approve", {})
    oldest = served.call("GET", f"/sessions/{sid}/checkpoints")["data"][-1]  # newest first: the prompt checkpoint
    assert oldest["reason"] == "prompt"

    page.goto(f"{served.url}/ui/sessions/{sid}")
    page.get_by_role("link", name="Checkpoints").click()
    page.wait_for_url(f"**/ui/sessions/{sid}/checkpoints")
    # The timeline itself shows the ledger entry next to the checkpoint that was current when it happened.
    effects = page.locator("[data-timeline-effects]").first
    effects.wait_for()
    assert f"to {DANA} was executed" in effects.inner_text()
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
    page.get_by_text("Rewound both to").wait_for()
