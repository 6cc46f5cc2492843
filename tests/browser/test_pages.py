"""Every page of `dexa serve`'s UI on the real runtime: an accessibility audit (light and dark, desktop and phone
width) with screenshots, keyboard navigation, the permission tester, schedules, the output policy, and the settings,
memory and extensions pages reading and writing the workspace."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from served import Served, painted, run_main_session, wait_until

pytestmark = pytest.mark.browser

AUDIT = (Path(__file__).parent / "a11y_check.js").read_text()
WIDTHS = {"desktop": {"width": 1280, "height": 860}, "phone": {"width": 390, "height": 844}}


def _audit(page: Any, where: str) -> list[dict[str, str]]:
    found = page.evaluate(AUDIT)
    return [dict(v, where=where) for v in found if v["impact"] in ("serious", "critical")]


@pytest.fixture(scope="module")
def waiting_session(served: Served) -> str:
    """A session parked on its Bash approval (the state approvals are made in, often on a phone)."""
    s = served.session("[main] wait for me")
    pending = lambda: served.call("GET", f"/sessions/{s['id']}/approvals?status=pending")["data"]  # noqa: E731
    wait_until(pending, 30, "the Bash approval")
    return str(s["id"])


def test_every_page_passes_the_accessibility_audit_at_both_widths_in_light_and_dark(
    page: Any, served: Served, waiting_session: str, shots: Path
) -> None:
    done = run_main_session(served, "[main] audit me")
    pages = {
        "home": ("/", "text=Recent sessions"),
        "run-waiting": (f"/ui/sessions/{waiting_session}", ".approval.pending"),
        "run-done": (f"/ui/sessions/{done}", "text=All done"),
        "review": ("/ui/review", "article.output"),
        "checkpoints": (f"/ui/sessions/{done}/checkpoints", "input[name=checkpoint]"),
        "integrations": ("/ui/integrations", "text=Connect a source"),
        "config": ("/ui/config/permissions", "text=Test a tool call"),
        "login": ("/ui/login", "text=Sign in to Dexa"),
    }
    problems: list[dict[str, str]] = []
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for width, size in WIDTHS.items():
            page.set_viewport_size(size)
            for name, (path, ready) in pages.items():
                page.goto(served.url + path)
                page.wait_for_selector(ready)
                if name == "run-done":  # open the Write card so the diff is audited too
                    page.locator(".item.tool summary", has_text="hello_audit_me.py").click()
                    page.wait_for_selector(".diff")
                painted(page)
                problems += _audit(page, f"{name} {width} {scheme}")
                # Nothing may force sideways scrolling of the whole page (phones included).
                overflow = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
                assert overflow <= 1, f"{name} at {width} ({scheme}) overflows sideways by {overflow}px"
                if scheme == "light" or name.startswith("run"):
                    out = shots / f"{name}-{width}-{scheme}.png"
                    # Run views as a person sees them (the viewport); the other pages whole.
                    page.screenshot(path=str(out), full_page=not name.startswith("run"))
                    assert out.stat().st_size > 5_000  # a real picture, not a blank page
    assert not problems, json.dumps(problems[:20], indent=1)
    print(f"\naccessibility: {len(pages) * 4} page audits clean; screenshots in {shots}")


def test_keyboard_shortcuts_move_focus_open_help_and_navigate(page: Any, served: Served, waiting_session: str) -> None:
    page.goto(served.url + "/")
    page.wait_for_selector(".session-link")
    page.keyboard.press("j")
    first = page.evaluate("document.activeElement.dataset.sessionId")
    page.keyboard.press("j")
    second = page.evaluate("document.activeElement.dataset.sessionId")
    page.keyboard.press("k")
    assert first and second and first != second
    assert page.evaluate("document.activeElement.dataset.sessionId") == first
    page.keyboard.press("?")
    assert page.locator("#shortcuts").is_visible()
    page.keyboard.press("Escape")
    # One call for the chord: `g` waits 1.2 s for its second key, and two calls from here can be further apart
    # than that on a loaded machine.
    page.keyboard.type("gr")
    page.wait_for_url("**/ui/review")
    # `d` on a focused approval denies it (the run view's shortcut), with the permission engine's reason shown.
    page.goto(f"{served.url}/ui/sessions/{waiting_session}")
    page.locator(".approval.pending button[data-decision=deny]").focus()
    page.keyboard.press("d")
    page.get_by_text("Denied", exact=True).wait_for()
    approvals = served.call("GET", f"/sessions/{waiting_session}/approvals")["data"]
    assert approvals[0]["status"] == "denied"


def test_the_permission_tester_answers_from_the_users_rules_and_exports_a_draft(page: Any, served: Served) -> None:
    page.goto(served.url + "/ui/config/permissions")
    page.get_by_label("Tool", exact=True).fill("Bash")
    page.get_by_role("button", name="Check").click()
    result = page.locator("[data-check-result]")
    result.get_by_text("ask", exact=True).wait_for()
    assert str(served.user_home / ".claude" / "settings.json") in result.inner_text()
    page.get_by_label("Deny").fill("Bash(rm -rf:*)")
    page.get_by_role("button", name="Show as settings.json").click()
    assert json.loads(page.locator("pre.code").last.inner_text())["permissions"]["deny"] == ["Bash(rm -rf:*)"]
    page.goto(served.url + "/ui/config/audit")
    page.get_by_role("cell", name="approval.decide").first.wait_for()


def test_the_audit_flags_the_violations_it_checks_for(page: Any, served: Served) -> None:
    """The audit can fail: a page with known problems yields exactly those rules."""
    page.goto(served.url + "/ui/login")
    page.wait_for_selector("text=Sign in to Dexa")
    page.evaluate("""() => {
      const m = document.querySelector('main');
      m.insertAdjacentHTML('beforeend', '<input id="bad-input"><button id="bad-btn"></button>' +
        '<p id="bad-contrast">faint</p><img src="/ui/static/icon.svg">' +
        '<a href="/x" id="bad-link"></a><div aria-labelledby="nope" id="bad-ref">x</div>' +
        '<span id="bad-input">dup</span>');
      const p = document.getElementById('bad-contrast');  // CSSOM: the page's CSP refuses inline style attributes
      p.style.color = '#bbb';
      p.style.background = '#fff';
    }""")
    rules = {v["rule"] for v in page.evaluate(AUDIT)}
    assert {
        "label",
        "button-name",
        "color-contrast",
        "image-alt",
        "link-name",
        "aria-valid-attr-value",
        "duplicate-id",
    } <= rules


def test_schedules_and_the_output_policy_are_edited_from_the_config_pages(page: Any, served: Served) -> None:
    page.goto(served.url + "/ui/config/schedules")
    page.get_by_text("No schedules.").wait_for()
    page.get_by_label("When (cron: minute hour day month weekday)").fill("0 9 * * 1-5")
    page.get_by_label("Prompt").fill("Summarise yesterday's PRs")
    page.get_by_role("button", name="Add schedule").click()
    page.get_by_role("cell", name="Summarise yesterday's PRs").wait_for()
    assert [s["cron"] for s in served.call("GET", "/schedules")["data"]] == ["0 9 * * 1-5"]
    page.get_by_label("When (cron: minute hour day month weekday)").fill("61 * * * *")
    page.get_by_label("Prompt").fill("never")
    page.get_by_role("button", name="Add schedule").click()
    page.get_by_text("Not added").wait_for()
    page.get_by_role("button", name="Delete schedule 0 9 * * 1-5").click()
    page.get_by_text("No schedules.").wait_for()

    page.goto(served.url + "/ui/config/policies")
    page.get_by_label("Default").select_option("stage")
    page.get_by_label("Output types").fill("email = deny")
    page.get_by_role("button", name="Save policy").click()
    page.get_by_text("Policy saved").wait_for()
    assert served.call("GET", "/output-policies")["output_types"] == {"email": "deny"}


def test_settings_memory_and_extensions_pages_read_and_write_the_workspace(page: Any, served: Served) -> None:
    project = served.ws / ".claude" / "settings.json"
    (served.ws / "CLAUDE.md").write_text("# Project\nUse tabs.\n")
    try:
        page.goto(served.url + "/ui/config/permissions")
        page.get_by_text("does not exist yet").wait_for()
        page.get_by_label("Deny").fill("Bash(rm -rf:*)")
        page.get_by_role("button", name="Save rules").click()
        page.get_by_text("Rules saved").wait_for()
        assert json.loads(project.read_text())["permissions"]["deny"] == ["Bash(rm -rf:*)"]
        page.get_by_label("Allow").fill("Bash(unclosed")
        page.get_by_role("button", name="Save rules").click()
        page.get_by_text("permissions.allow[0]").wait_for()

        page.goto(served.url + "/ui/config/memory")
        box = page.get_by_label(f"{served.ws / 'CLAUDE.md'} (project)")
        box.wait_for()
        box.fill("# Project\nUse spaces.\n")
        page.get_by_role("button", name="Save", exact=True).first.click()
        page.get_by_text("Saved").first.wait_for()
        assert "Use spaces." in (served.ws / "CLAUDE.md").read_text()

        page.goto(served.url + "/ui/config/extensions")
        page.get_by_role("cell", name="general-purpose", exact=True).wait_for()
        page.get_by_text("No plugins enabled.").wait_for()
    finally:
        (served.ws / "CLAUDE.md").unlink(missing_ok=True)
        project.unlink(missing_ok=True)
