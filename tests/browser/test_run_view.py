"""The live run view in a real browser: task creation, streaming, tool cards, inline approval, reload mid-run,
Shift+Tab mode switching and a 2,000-event session's first screen."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from web_harness import Live, api, seed_large_session, seed_subagent_session, wait_idle, wait_until

pytestmark = pytest.mark.browser


def _session_id(page: Any) -> str:
    return page.url.rsplit("/", 1)[1]


def test_a_task_created_in_the_page_streams_text_and_tool_cards_and_is_approved_inline(page: Any, live: Live) -> None:
    page.goto(live.url + "/")
    page.wait_for_selector("body[data-ready]")
    # `/` focuses the task box from anywhere.
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.dataset.taskBox") == ""
    page.keyboard.type("[main] write hello and follow up")
    page.select_option("select >> nth=0", "default")
    page.get_by_role("button", name="Start task").click()
    page.wait_for_url("**/ui/sessions/ses_*")
    sid = _session_id(page)

    page.get_by_text("I'll plan this, then write the greeting script.").wait_for()
    page.locator(".item.tool", has_text="Write").first.wait_for()
    approval = page.locator(".approval.pending")
    approval.wait_for()
    assert "ask by test rule Bash" in approval.inner_text()
    approval.get_by_text("Why am I asked?").click()
    why = approval.locator("dl").inner_text()
    assert "Rule" in why and "Bash" in why and "Source" in why and "test" in why
    # The Bash call has not run yet: its command log does not exist.
    assert page.locator(".cmdlog").count() == 0

    page.locator("body").click(position={"x": 5, "y": 300})
    page.keyboard.press("a")  # approve the only pending approval, once
    page.get_by_text("All done: hello.py works").wait_for(timeout=15_000)
    page.locator(".cmdlog", has_text="hello from bash").wait_for()
    assert "careful" in page.locator(".cmdlog .stderr").inner_text()
    approvals = api(live, "GET", f"/sessions/{sid}/approvals")["data"]
    assert [a["status"] for a in approvals] == ["allowed"] and approvals[0]["scope"] == "once"

    # Tool cards: one per call, none twice; the Write card shows a highlighted diff.
    ids = page.eval_on_selector_all(".timeline > .item.tool", "els => els.map(e => e.dataset.itemId)")
    assert len(ids) == len(set(ids)) == 5  # TodoWrite, Write, Bash, SendEmail, PostSlack
    write = (
        page.locator(".item.tool").filter(has=page.locator(".name", has_text="Write")).filter(has_not_text="TodoWrite")
    )
    page.get_by_text("Turn 1 done").wait_for()  # the last re-render of the cards has happened
    write.locator("summary").click()
    write.locator(".diff .tok-kw", has_text="def").wait_for()
    write.get_by_role("button", name="Side by side").click()
    assert write.locator(".diff table.split").count() == 1
    # Streamed text is rendered once per message, todo progress and usage are shown.
    assert page.locator(".item.assistant").count() == 4
    assert "0 of 3 done" in page.locator("[aria-label='Todo list']").inner_text()
    assert page.locator("[data-stat=cost]").inner_text().startswith("$")
    assert page.locator(".outputs-mini .out").count() == 2


def test_a_reload_mid_stream_loses_and_duplicates_nothing(page: Any, live: Live) -> None:
    s = api(live, "POST", "/sessions", {"prompt": "[slow 14] append lines slowly"})
    page.goto(f"{live.url}/ui/sessions/{s['id']}")
    wait_until(lambda: page.locator(".item.tool").count() >= 4, 10, "some tool cards before the reload")
    page.reload()
    page.get_by_text("finished 14 appends").wait_for(timeout=20_000)
    final = wait_idle(live, s["id"])
    page.wait_for_function(f"document.body.dataset.lastSeq === '{final['last_seq']}'")
    # Every event 1..last_seq applied exactly once (the stream refuses gaps and skips repeats).
    assert page.evaluate("document.body.dataset.seen") == str(final["last_seq"])
    ids = page.eval_on_selector_all("[data-item-id]", "els => els.map(e => e.dataset.itemId)")
    assert len(ids) == len(set(ids))
    assert page.locator(".item.tool").count() == 14
    texts = page.locator(".item.assistant .text").all_inner_texts()
    assert texts == [f"step {i}" for i in range(14)] + ["finished 14 appends"]
    assert (live.workspace / "slow.log").read_text().count("line ") == 14


def test_shift_tab_in_the_message_box_cycles_the_permission_mode(page: Any, live: Live) -> None:
    s = api(live, "POST", "/sessions", {"prompt": "say hello"})
    wait_idle(live, s["id"])
    page.goto(f"{live.url}/ui/sessions/{s['id']}")
    page.get_by_text("Hello! I am a scripted agent").wait_for()
    box = page.get_by_role("textbox", name="Message")
    box.focus()
    page.keyboard.press("Shift+Tab")
    wait_until(lambda: api(live, "GET", f"/sessions/{s['id']}")["permission_mode"] == "acceptEdits", 5, "acceptEdits")
    page.keyboard.press("Shift+Tab")
    wait_until(lambda: api(live, "GET", f"/sessions/{s['id']}")["permission_mode"] == "plan", 5, "plan")
    page.get_by_text("Permission mode: acceptEdits → plan").wait_for()
    assert page.get_by_label("Permission mode").input_value() == "plan"
    # Focus stayed in the box: Shift+Tab did not move it away.
    assert page.evaluate("document.activeElement.dataset.taskBox") == ""
    # A follow-up message from the composer starts the next turn.
    box.fill("say hello again")
    page.keyboard.press("Enter")
    wait_until(lambda: page.locator(".item.user").count() == 2, 5, "the second prompt")
    wait_idle(live, s["id"])


def test_a_2000_event_session_renders_its_first_screen_in_under_a_second(page: Any, live: Live) -> None:
    sid = live.call(seed_large_session(live, events=2000), timeout=60)
    last = api(live, "GET", f"/sessions/{sid}")["last_seq"]
    assert last >= 2000
    started = time.perf_counter()
    page.goto(f"{live.url}/ui/sessions/{sid}")
    page.wait_for_selector("body[data-caught-up]", timeout=10_000)
    wall = time.perf_counter() - started
    # performance.now() at caught-up = ms since navigation start: shell, modules, history replay and render.
    first_screen_ms = int(page.evaluate("document.body.dataset.caughtUp"))
    marks = page.evaluate(
        "Object.fromEntries(performance.getEntriesByType('mark').map(m => [m.name, Math.round(m.startTime)]))"
    )
    print(f"\n2,000-event session ({last} events): first screen in {first_screen_ms} ms")
    print(f"(wall {wall * 1000:.0f} ms from goto; marks {marks})")
    assert first_screen_ms < 1000
    # Only the tail was read (every event of it exactly once); the rest loads on demand.
    start = int(page.evaluate("document.body.dataset.startSeq"))
    assert 0 < start < last and int(page.evaluate("document.body.dataset.seen")) == last - start
    assert page.locator(".timeline > [data-item-id]").count() <= 150
    page.get_by_role("button", name=re.compile(r"Show \d+ earlier items")).click()
    page.get_by_role("button", name=f"Load the {start} earlier events").click()
    page.get_by_role("button", name=re.compile(r"Show \d+ earlier items")).wait_for()
    while page.locator(".older button").count():
        page.locator(".older button").click()
    page.get_by_text("Step 1: refactor module 1", exact=True).wait_for()
    ids = page.eval_on_selector_all("[data-item-id]", "els => els.map(e => e.dataset.itemId)")
    assert len(ids) == len(set(ids))


def test_a_subagent_is_nested_in_the_task_card_that_started_it_with_its_own_activity(page: Any, live: Live) -> None:
    parent, _child = live.call(seed_subagent_session(live))
    page.goto(f"{live.url}/ui/sessions/{parent}")
    card = page.locator(".item.tool").filter(has=page.locator(".name", has_text="Task"))
    sub = card.locator(".subagent")
    sub.wait_for()
    assert "Subagent · explorer" in sub.inner_text() and "completed" in sub.inner_text()
    sub.get_by_role("button", name="Show its activity").click()
    nested = sub.locator(".nested")
    nested.get_by_text("The child agent found 3 modules.").wait_for()
    assert nested.locator(".item.tool .name").all_inner_texts() == ["Glob"]
    # The child's events stay in the child: the parent timeline has one tool card, the Task.
    assert page.locator(".run > section > .timeline > .item.tool").count() == 1
    sub.get_by_role("button", name="Hide its activity").click()
    assert nested.locator(".item").count() == 0
