"""A business session on `dexa serve` (real engine, the demo company's managed MCP servers, the real staging gate):
three staged calendar invites all show in the run view, and are reviewed, edited, approved and rejected in the
browser; the run view then shows each one's outcome. Layout checked at 1280 and 390 px."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from scenarios import STAGE
from served import Served, check_layout, painted, wait_until

pytestmark = pytest.mark.browser


@pytest.fixture
def bpage(page: Any) -> Any:
    return page


@pytest.fixture(scope="module")
def session(served: Served) -> dict[str, Any]:
    # The "[biz3]" scenario (scenarios.py): the demo calendar loaded, three invites staged, a closing table.
    s = served.session("[biz3] Schedule follow-ups for this week's Acme call.", allowed_tools=[STAGE])
    served.wait_idle(s["id"])
    return s


def test_three_staged_outputs_all_show_in_the_run_view(bpage: Any, served: Served, session: dict[str, Any]) -> None:
    staged = served.call("GET", f"/sessions/{session['id']}/pending-outputs")["data"]
    assert len(staged) == 3, staged
    bpage.goto(f"{served.url}/ui/sessions/{session['id']}")
    bpage.get_by_text("Three invites wait for your review").wait_for()
    # One timeline item and one side-panel line per staged output (the runtime's events carry `id`).
    wait_until(lambda: bpage.locator(".timeline .item", has_text="Staged").count() == 3, 10, "three staged items")
    assert bpage.locator(".outputs-mini .out").count() == 3
    # The final reply's markdown table is a table.
    assert bpage.locator(".item.assistant table td", has_text="Tue").count() == 1


def test_review_edit_approve_and_reject_then_the_run_view_shows_outcomes(
    bpage: Any, served: Served, session: dict[str, Any], shots: Path
) -> None:
    sid = session["id"]
    bpage.goto(f"{served.url}/ui/review?session={sid}")
    cards = bpage.locator("article.output")
    wait_until(lambda: cards.count() == 3, 10, "three review cards")
    ids = [cards.nth(i).get_attribute("data-output-id") for i in range(3)]

    # 1: edited, then approved: it runs with the edit.
    first = bpage.locator(f"article.output[data-output-id='{ids[0]}']")
    first.locator("[data-arg=summary]").fill("Acme follow-up (moved)")
    first.locator("[data-act=approve]").click()
    first.locator(".result").wait_for()
    # 2: rejected with a reason.
    second = bpage.locator(f"article.output[data-output-id='{ids[1]}']")
    second.get_by_label("Reason").fill("Dana is out that week")
    second.locator("[data-act=reject]").click()
    second.get_by_text("Dana is out that week").wait_for()
    # 3: approved as drafted.
    third = bpage.locator(f"article.output[data-output-id='{ids[2]}']")
    third.locator("[data-act=approve]").click()
    third.locator(".result").wait_for()

    outs = {o["id"]: o for o in served.call("GET", f"/sessions/{sid}/pending-outputs")["data"]}
    assert [outs[i]["status"] for i in ids] == ["executed", "rejected", "executed"], outs
    assert outs[ids[0]]["edited"] is True and outs[ids[2]]["edited"] is False
    # A success shows the integration's result as text, not escaped JSON.
    assert '{"' not in first.locator(".result").inner_text()

    bpage.goto(f"{served.url}/ui/sessions/{sid}")
    timeline = bpage.locator(".timeline")
    wait_until(lambda: timeline.locator(".badge", has_text="executed").count() == 2, 10, "two executed outputs")
    assert timeline.get_by_text("Rejected: Dana is out that week").count() == 1

    for width, height in ((1280, 860), (390, 844)):
        bpage.set_viewport_size({"width": width, "height": height})
        bpage.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        painted(bpage)
        check_layout(bpage, [".run-head .btn.bad", ".run-head .badge"], shots / f"business-run-{width}.png")
        bpage.goto(f"{served.url}/ui/review?session={sid}")
        wait_until(lambda: cards.count() == 3, 10, "the review cards")
        check_layout(bpage, [], shots / f"business-review-{width}.png")
        bpage.goto(f"{served.url}/ui/sessions/{sid}")
        bpage.get_by_text("Three invites wait for your review").wait_for()
