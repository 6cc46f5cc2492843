"""A code task on `dexa serve` (real engine, bubblewrap, checkpoints; loopback Messages API): Write and Bash are
approved in the browser, the diff shows, the reply's markdown renders, checkpoints carry human labels and a rewind
from the timeline restores the workspace. Then a Bash call is aborted mid-run and stays aborted after a reload."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from served import Served, check_layout, wait_until

pytestmark = pytest.mark.browser

REPLY = "Done.\n\n> totals.py sums the rows.\n\n- checks\n  - the file\n  - its output\n- next steps"


WRITE = {"content": "print(1 + 2)\n"}
CHECK = {"command": "if [ -f slow.flag ]; then sleep 60; fi; cat totals.py"}


def _turns(ws: Path) -> list[dict[str, Any]]:
    # One script for every session on this server: a session whose workspace holds slow.flag sleeps in Bash.
    return [
        {
            "text": "I'll write totals.py.",
            "tool_uses": [
                {"name": "Write", "input": {"file_path": str(ws / "totals.py"), "content": "print(1 + 2)\n"}}
            ],
        },
        {
            "text": "Checking it.",
            "tool_uses": [
                {"name": "Bash", "input": {"command": "if [ -f slow.flag ]; then sleep 60; fi; cat totals.py"}}
            ],
        },
        {"text": REPLY, "delay_ms": 400},  # streamed in chunks, slowly enough to watch it arrive
    ]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("code")
    s = Served(tmp, _turns(tmp / "ws"))
    yield s
    s.stop()


@pytest.fixture
def cpage(browser_context: Any, served: Served) -> Iterator[Any]:
    pg = browser_context.new_page()
    pg.goto(served.handoff if not getattr(served, "signed_in", False) else served.url + "/")
    served.signed_in = True  # type: ignore[attr-defined]
    pg.wait_for_selector("body[data-ready]")
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    pg.close()
    assert not errors, f"page errors: {errors}"


def test_code_task_approved_in_the_browser_then_rewound_from_the_timeline(
    cpage: Any, served: Served, shots: Path
) -> None:
    s = served.session("Write totals.py and check it.")
    cpage.goto(f"{served.url}/ui/sessions/{s['id']}")
    for tool in ("Write", "Bash"):
        approval = cpage.locator(".approval.pending")
        approval.wait_for(timeout=20_000)
        assert tool in approval.locator("h3").inner_text()
        if tool == "Write":
            for width, height in ((1280, 860), (390, 844)):
                cpage.set_viewport_size({"width": width, "height": height})
                approval.scroll_into_view_if_needed()
                check_layout(
                    cpage,
                    [".run-head .btn.bad", ".run-head .badge", ".approval.pending [data-decision=once]"],
                    shots / f"code-approval-{width}.png",
                )
            cpage.set_viewport_size({"width": 1280, "height": 860})
        approval.locator("[data-decision=once]").click()
        decided = cpage.locator(f".approval.decided:has(h3:has-text('{tool}'))")
        wait_until(decided.count, 10, f"the {tool} approval to be answered")
    # The reply streams in: partial text with the typing cursor before the message is complete.
    streaming = cpage.locator(".item.assistant .text.cursor", has_text="Done.")
    streaming.wait_for(timeout=20_000)
    assert "next steps" not in streaming.inner_text()
    served.wait_idle(s["id"])
    assert (served.ws / "totals.py").read_text() == "print(1 + 2)\n"

    # The reply's markdown: a blockquote and a nested list, rendered by the vendored parser.
    reply = cpage.locator(".item.assistant", has_text="Done.")
    reply.locator("blockquote", has_text="totals.py sums the rows").wait_for()
    assert reply.locator("ul ul li").count() == 2
    # The Write card's diff.
    write = cpage.locator(".item.tool").filter(has=cpage.locator(".name", has_text="Write"))
    if write.locator(".diff").count() == 0:  # open unless it stayed open from its approval
        write.locator("summary").first.click()
    write.locator(".diff", has_text="print").wait_for()
    # The command ran and its output shows.
    cpage.locator(".cmdlog", has_text="print(1 + 2)").wait_for()

    # Checkpoints read as what they are, not as ids; rewind to the one before the Write.
    labels = cpage.locator(".timeline .notice-item", has_text="Checkpoint").all_inner_texts()
    assert any("before Write totals.py" in t for t in labels), labels
    assert any("after turn 1" in t for t in labels), labels
    assert not any("ckpt_" in t for t in labels), labels
    before_write = cpage.locator(".timeline .notice-item", has_text="before Write totals.py")
    before_write.get_by_role("link", name="Rewind to here…").click()
    cpage.wait_for_url("**/checkpoints?select=*")
    cpage.locator(".ckpt .what", has_text="before Write totals.py").wait_for()
    cpage.get_by_role("button", name="Rewind…").click()
    cpage.get_by_role("button", name="Confirm rewind").click()
    cpage.get_by_text("Rewound to").wait_for()
    assert not (served.ws / "totals.py").exists()


def test_a_tool_aborted_mid_run_stays_aborted_after_a_reload(cpage: Any, served: Served) -> None:
    flag = served.ws / "slow.flag"
    flag.write_text("")
    try:
        s = served.session("Write totals.py and check it.", allowed_tools=["Write", "Bash"])
        cpage.goto(f"{served.url}/ui/sessions/{s['id']}")
        bash = cpage.locator(".item.tool").filter(has=cpage.locator(".name", has_text="Bash"))
        bash.locator(".spinner").wait_for(timeout=20_000)
        # A live elapsed time beside the spinner, ticking while the command sleeps.
        elapsed = bash.locator(".elapsed")
        first = elapsed.inner_text()
        wait_until(lambda: elapsed.inner_text() != first, 5, "the elapsed time to tick")
        cpage.locator(".run-head").get_by_role("button", name="Abort").click()
        cpage.get_by_text("Turn aborted").wait_for(timeout=20_000)
        bash.locator(".badge", has_text="aborted").wait_for()
        served.wait_idle(s["id"])
        cpage.reload()
        cpage.get_by_text("Turn aborted").wait_for()
        assert bash.locator(".badge").inner_text() == "aborted"
        assert bash.locator(".spinner").count() == 0
    finally:
        flag.unlink()
