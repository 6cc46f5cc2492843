"""A code task on `dexa serve` (real engine, bubblewrap, checkpoints; the "[code]" scenario of scenarios.py): the
Write goes ahead under the user's rules, Bash is approved in the browser, the diff shows, the reply streams and its
markdown renders, checkpoints carry human labels and a rewind from the timeline restores the workspace. Then a Bash
call is aborted mid-run and stays aborted after a reload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from served import Served, check_layout, wait_until

pytestmark = pytest.mark.browser


@pytest.fixture
def cpage(page: Any) -> Any:
    return page


def test_code_task_approved_in_the_browser_then_rewound_from_the_timeline(
    cpage: Any, served: Served, shots: Path
) -> None:
    s = served.session("[code] Write totals.py and check it.")
    cpage.goto(f"{served.url}/ui/sessions/{s['id']}")
    approval = cpage.locator(".approval.pending")
    approval.wait_for(timeout=20_000)
    assert "Bash" in approval.locator("h3").inner_text()
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
    decided = cpage.locator(".approval.decided:has(h3:has-text('Bash'))")
    wait_until(decided.count, 10, "the Bash approval to be answered")
    # The reply streams in: partial text with the typing cursor before the message is complete. Matched and read
    # in one step, checked every frame (the view renders once a frame): the rest arrives 0.8 s later, and a second
    # read after a late match could find the message complete and the cursor gone.
    partial = cpage.wait_for_function(
        """() => {
          const texts = [...document.querySelectorAll('.item.assistant .text.cursor')].map((e) => e.innerText);
          return texts.find((t) => t.includes('Done.')) ?? null;
        }""",
        timeout=20_000,
    ).json_value()
    assert "next steps" not in partial, partial
    served.wait_idle(s["id"])
    assert (served.ws / "totals.py").read_text() == "print(1 + 2)\n"

    # The reply's markdown, once complete (no cursor; its first piece has the blockquote already): a blockquote and
    # a nested list, rendered by the vendored parser.
    reply = cpage.locator(".item.assistant .text:not(.cursor)", has_text="next steps")
    reply.wait_for()
    assert reply.locator("blockquote", has_text="totals.py sums the rows").count() == 1
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
        s = served.session("[code] Write totals.py and check it.")
        cpage.goto(f"{served.url}/ui/sessions/{s['id']}")
        # The user's rules ask for every Bash; the approval gets as long to show up as in the test above.
        approve = cpage.locator(".approval.pending [data-decision=once]")
        approve.wait_for(timeout=20_000)
        approve.click()
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
        badges = bash.locator(".badge").all_inner_texts()  # the status, and the approval it was given
        assert "aborted" in badges and "running" not in badges, badges
        assert bash.locator(".spinner").count() == 0
    finally:
        flag.unlink()
