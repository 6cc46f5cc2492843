"""Editing an email's body and recipients on the Review page, when the agent only sent a draft by id: the card shows
the draft's fields, the reviewer edits them, and exactly the edited email is sent (once) by the control plane.
`dexa serve` with the demo company's managed email server, the real staging gate, Playwright on chromium."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from served import Served, wait_until

from dexa.integrations.providers.demo import DemoCompany

pytestmark = pytest.mark.browser

SEND = "mcp__email__send_draft"
DRAFT = "dr_review1"
TURNS = [
    {"text": "Loading mail.", "tool_uses": [{"name": "LoadSourceTools", "input": {"sources": ["email"]}}]},
    {"text": "Sending the follow-up.", "tool_uses": [{"name": SEND, "input": {"draft_id": DRAFT}}]},
    {"text": "The follow-up waits for your review."},
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    s = Served(tmp_path_factory.mktemp("mail"), TURNS, setup=[["integrations", "add", "demo"]])
    company = DemoCompany(s.home / "state" / "demo-company.db")  # the file `dexa serve` uses; seeded here first
    company.db.execute(
        "INSERT INTO drafts VALUES (?,?,?,?,?,?,?)",
        (DRAFT, json.dumps(["dana@acme.example"]), "[]", "Follow-up", "Hi Dana, see you Monday.", None, "2020"),
    )
    company.db.commit()
    company.close()
    yield s
    s.stop()


@pytest.fixture
def bpage(browser_context: Any, served: Served) -> Iterator[Any]:
    pg = browser_context.new_page()
    pg.goto(served.handoff)
    pg.wait_for_selector("body[data-ready]")
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    pg.close()
    assert not errors, f"page errors: {errors}"


def test_a_reviewer_edits_a_drafts_body_and_recipients_and_exactly_that_is_sent(bpage: Any, served: Served) -> None:
    session = served.session("Send Dana the follow-up.", allowed_tools=[SEND])
    served.wait_idle(session["id"])
    bpage.goto(f"{served.url}/ui/review?session={session['id']}")
    card = bpage.locator("article.output")
    wait_until(lambda: card.count() == 1, 10, "the review card")
    assert card.locator("[data-arg=body]").input_value() == "Hi Dana, see you Monday."
    card.locator("[data-arg=to]").fill("dana@acme.example, cfo@acme.example")
    card.locator("[data-arg=body]").fill("Hi Dana, see you Tuesday instead.")
    card.locator("[data-act=approve]").click()
    card.locator(".result").wait_for()

    [out] = served.call("GET", f"/sessions/{session['id']}/pending-outputs")["data"]
    assert out["status"] == "executed" and out["edited"], out
    assert out["context"]["changes"]["body"]["to"] == "Hi Dana, see you Tuesday instead."
    db = sqlite3.connect(served.home / "state" / "demo-company.db")
    sent = db.execute("SELECT recipients, body FROM outbox").fetchall()
    assert [(json.loads(r), b) for r, b in sent] == [
        (["dana@acme.example", "cfo@acme.example"], "Hi Dana, see you Tuesday instead.")
    ]
    untouched = db.execute("SELECT body FROM drafts WHERE id=?", (DRAFT,)).fetchone()
    assert untouched == ("Hi Dana, see you Monday.",)
    assert len(bpage.locator("article.output .badge", has_text="edited").all()) == 1
