"""The live run view in a real browser on `dexa serve` (real engine, scenarios.py's script): task creation,
streaming, tool cards, inline approval, reload mid-run, Shift+Tab mode switching, a real subagent nested in its Task
card and a 2,000-event session's first screen."""

from __future__ import annotations

import asyncio
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from scenarios import HELLO, MAIN_DONE
from served import Served, wait_until

from dexa.adapters.sqlite import SqliteStore
from dexa.core.events import EventType

pytestmark = pytest.mark.browser


def _session_id(page: Any) -> str:
    return page.url.rsplit("/", 1)[1]


def test_a_task_created_in_the_page_streams_text_and_tool_cards_and_is_approved_inline(
    page: Any, served: Served
) -> None:
    page.goto(served.url + "/")
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
    approval.wait_for(timeout=20_000)
    assert "Bash" in approval.locator("h3").inner_text()
    approval.get_by_text("Why am I asked?").click()
    why = approval.locator("dl").inner_text()
    # The user's own ask rule, named with the file it came from.
    assert "Rule\nBash" in why and str(served.user_home / ".claude" / "settings.json") in why, why
    # The Bash call has not run yet: its command log does not exist.
    assert page.locator(".cmdlog").count() == 0

    page.locator("body").click(position={"x": 5, "y": 300})
    page.keyboard.press("a")  # approve the only pending approval, once
    page.get_by_text(MAIN_DONE).wait_for(timeout=30_000)
    page.locator(".cmdlog", has_text="hello from bash").wait_for()
    assert "careful" in page.locator(".cmdlog .stderr").inner_text()
    approvals = served.call("GET", f"/sessions/{sid}/approvals")["data"]
    assert [a["status"] for a in approvals] == ["allowed"] and approvals[0]["scope"] == "once"

    # Tool cards: one per call, none twice; the Write card shows a highlighted diff.
    page.get_by_text("Turn 1 done").wait_for()  # the last re-render of the cards has happened
    ids = page.eval_on_selector_all(".timeline > .item.tool", "els => els.map(e => e.dataset.itemId)")
    assert len(ids) == len(set(ids)) == 6  # TodoWrite, Write, Bash, LoadSourceTools, two invites
    write = (
        page.locator(".item.tool").filter(has=page.locator(".name", has_text="Write")).filter(has_not_text="TodoWrite")
    )
    if write.locator(".diff").count() == 0:  # open unless it is open already
        write.locator("summary").first.click()
    write.locator(".diff .tok-kw", has_text="def").wait_for()
    write.get_by_role("button", name="Side by side").click()
    assert write.locator(".diff table.split").count() == 1
    # Streamed text is rendered once per message, todo progress and usage are shown.
    assert page.locator(".item.assistant").count() == 5
    assert "0 of 3 done" in page.locator("[aria-label='Todo list']").inner_text()
    assert page.locator("[data-stat=cost]").inner_text().startswith("$")
    wait_until(lambda: page.locator(".outputs-mini .out").count() == 2, 10, "both staged invites in the side panel")


def test_a_reload_mid_stream_loses_and_duplicates_nothing(page: Any, served: Served) -> None:
    s = served.session("[slow 14] write lines slowly")
    page.goto(f"{served.url}/ui/sessions/{s['id']}")
    wait_until(lambda: page.locator(".item.tool").count() >= 4, 20, "some tool cards before the reload")
    page.reload()
    page.get_by_text("finished 14 appends").wait_for(timeout=30_000)
    final = served.wait_idle(s["id"])
    page.wait_for_function(f"document.body.dataset.lastSeq === '{final['last_seq']}'")
    # Every event 1..last_seq applied exactly once (the stream refuses gaps and skips repeats).
    assert page.evaluate("document.body.dataset.seen") == str(final["last_seq"])
    ids = page.eval_on_selector_all("[data-item-id]", "els => els.map(e => e.dataset.itemId)")
    assert len(ids) == len(set(ids))
    assert page.locator(".item.tool").count() == 14
    texts = page.locator(".item.assistant .text").all_inner_texts()
    assert texts == [f"step {i}" for i in range(14)] + ["finished 14 appends"]
    assert len(list((served.ws / "slow").glob("line_*.txt"))) == 14


def test_shift_tab_in_the_message_box_cycles_the_permission_mode(page: Any, served: Served) -> None:
    s = served.session("say hello")
    served.wait_idle(s["id"])
    page.goto(f"{served.url}/ui/sessions/{s['id']}")
    page.get_by_text(HELLO).wait_for()
    box = page.get_by_role("textbox", name="Message")
    box.focus()
    mode = lambda: served.call("GET", f"/sessions/{s['id']}")["permission_mode"]  # noqa: E731
    # Each change is waited for where the page shows it (the server's event, in the timeline), then read back.
    page.keyboard.press("Shift+Tab")
    page.get_by_text("Permission mode: default → acceptEdits").wait_for()
    assert mode() == "acceptEdits"
    page.keyboard.press("Shift+Tab")
    page.get_by_text("Permission mode: acceptEdits → plan").wait_for()
    assert mode() == "plan"
    assert page.get_by_label("Permission mode").input_value() == "plan"
    # Focus stayed in the box: Shift+Tab did not move it away.
    assert page.evaluate("document.activeElement.dataset.taskBox") == ""
    # A follow-up message from the composer starts the next turn.
    box.fill("say hello again")
    page.keyboard.press("Enter")
    page.locator(".item.user").nth(1).wait_for()  # the second prompt
    page.get_by_text(HELLO).nth(1).wait_for(timeout=20_000)
    served.wait_idle(s["id"])


def test_quick_shift_tabs_each_go_one_step(page: Any, served: Served) -> None:
    """Presses faster than the server answers still cycle one step each (the next mode is taken from the one asked
    for last, and the requests are sent in order), as in Claude Code."""
    s = served.session("say hello")
    served.wait_idle(s["id"])
    page.goto(f"{served.url}/ui/sessions/{s['id']}")
    page.get_by_text(HELLO).wait_for()
    page.get_by_role("textbox", name="Message").focus()
    mode = lambda: served.call("GET", f"/sessions/{s['id']}")["permission_mode"]  # noqa: E731
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    # Two quick presses that both asked for acceptEdits would never log this change.
    page.get_by_text("Permission mode: acceptEdits → plan").wait_for()
    assert mode() == "plan"
    # The selector is set in the render that shows the change.
    assert page.get_by_label("Permission mode").input_value() == "plan"


async def _grow(db: str, session_id: str, events: int) -> int:
    """History appended to a finished session's log in the server's SQLite file: turns of streamed text and Edit
    calls with diffs, as the engine records them (the server reads the log; only the seeding skips the model)."""
    store = SqliteStore(db)
    n, turn = await store.last_seq(session_id), 1
    while n < events:
        turn += 1
        add = lambda t, d: store.append_event(session_id, t, d)  # noqa: E731
        await add(EventType.TURN_STARTED, {"turn": turn, "prompt": f"Step {turn}: refactor module {turn}"})
        for k in range(3):
            delta = {"turn": turn, "message_id": f"t{turn}a0", "text": f"Part {k} of my plan. "}
            await add(EventType.TEXT_DELTA, delta)
        for k in range(4):
            call = {"tool_use_id": f"toolu_{turn}_{k}", "name": "Edit", "input": {"file_path": f"src/m{turn}.py"}}
            await add(EventType.TOOL_REQUESTED, {"turn": turn, **call})
            await add(EventType.TOOL_STARTED, call)
            diff = f"--- a/src/m{turn}.py\n+++ b/src/m{turn}.py\n@@ -1,2 +1,2 @@\n-x = {k}\n+x = {k + 1}\n y = 2\n"
            await add(
                EventType.TOOL_COMPLETED,
                {**call, "status": "done", "is_error": False, "content": "ok", "data": {"diff": diff}},
            )
        usage = {"input_tokens": 1000, "output_tokens": 200}
        await add(EventType.USAGE, {"turn": turn, "usage": usage, "cost_usd": 0.01, "total_cost_usd": 0.01 * turn})
        await add(EventType.TURN_COMPLETED, {"turn": turn, "subtype": "success", "duration_ms": 1200})
        n = await store.last_seq(session_id)
    return n


def test_a_2000_event_session_renders_its_first_screen_in_under_a_second(page: Any, served: Served) -> None:
    s = served.session("say hello", title="A long session (2,000 events)")
    served.wait_idle(s["id"])
    # In a thread of its own: Playwright's sync API holds this thread's event loop.
    with ThreadPoolExecutor(1) as pool:
        last = pool.submit(asyncio.run, _grow(str(served.home / "dexa.db"), s["id"], 2000)).result(120)
    assert last >= 2000
    started = time.perf_counter()
    page.goto(f"{served.url}/ui/sessions/{s['id']}")
    page.wait_for_selector("body[data-caught-up]", timeout=10_000)
    wall = time.perf_counter() - started
    # performance.now() at caught-up = ms since navigation start: shell, modules, history replay and render.
    first_screen_ms = int(page.evaluate("document.body.dataset.caughtUp"))
    marks = page.evaluate(
        "Object.fromEntries(performance.getEntriesByType('mark').map(m => [m.name, Math.round(m.startTime)]))"
    )
    print(f"\n2,000-event session ({last} events): first screen in {first_screen_ms} ms")
    print(f"(wall {wall * 1000:.0f} ms from goto; marks {marks})")
    # One second with the cores to ourselves; on a shared machine the budget stretches with the run queue per core
    # (measured 1.27-1.5 s at load average 12-19 on 2 cores). The structural checks below hold at any load.
    crowding = max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))
    assert first_screen_ms < 1000 * crowding, f"{first_screen_ms} ms at {crowding:.1f}x load per core"
    # Only the tail was read (every event of it exactly once); the rest loads on demand.
    start = int(page.evaluate("document.body.dataset.startSeq"))
    assert 0 < start < last and int(page.evaluate("document.body.dataset.seen")) == last - start
    assert page.locator(".timeline > [data-item-id]").count() <= 150
    page.get_by_role("button", name=re.compile(r"Show \d+ earlier items")).click()
    page.get_by_role("button", name=f"Load the {start} earlier events").click()
    page.get_by_role("button", name=re.compile(r"Show \d+ earlier items")).wait_for()
    while page.locator(".older button").count():
        page.locator(".older button").click()
    page.get_by_text("Step 2: refactor module 2", exact=True).wait_for()
    ids = page.eval_on_selector_all("[data-item-id]", "els => els.map(e => e.dataset.itemId)")
    assert len(ids) == len(set(ids))


def test_a_subagent_is_nested_in_the_task_card_that_started_it_with_its_own_activity(page: Any, served: Served) -> None:
    s = served.session("[sub] survey the repo")
    served.wait_idle(s["id"])
    page.goto(f"{served.url}/ui/sessions/{s['id']}")
    card = page.locator(".item.tool").filter(has=page.locator(".name", has_text="Task"))
    sub = card.locator(".subagent")
    sub.wait_for()
    assert "Subagent · general-purpose" in sub.inner_text() and "completed" in sub.inner_text()
    sub.get_by_role("button", name="Show its activity").click()
    nested = sub.locator(".nested")
    nested.get_by_text("The child agent found 3 modules.").wait_for()
    assert nested.locator(".item.tool .name").all_inner_texts() == ["Glob"]
    # The child's events stay in the child: the parent timeline has one tool card, the Task.
    assert page.locator(".run > section > .timeline > .item.tool").count() == 1
    sub.get_by_role("button", name="Hide its activity").click()
    assert nested.locator(".item").count() == 0
