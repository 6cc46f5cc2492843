"""Leaving a page before it has loaded: the page left behind must not come back over the next one, nor keep
reading (the client-side router and the run view on `dexa serve`). Each test holds one request of the page being
left, moves on, then lets the request go."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from scenarios import HELLO
from served import Served, painted

pytestmark = pytest.mark.browser


def _is_stream(url: str, sid: str) -> bool:
    """The run view's live event stream (the checkpoints page reads the same path in poll mode)."""
    return f"/sessions/{sid}/events?" in url and "mode=poll" not in url


def test_a_run_view_left_before_its_session_loaded_opens_no_stream(page: Any, served: Served) -> None:
    s = served.session("say hello")
    served.wait_idle(s["id"])
    sid = s["id"]
    held: list[Any] = []
    # The run view's first read: the API path itself, not the page's URL (/ui/sessions/...) nor anything under it.
    session_read = lambda url: urlsplit(url).path == f"/sessions/{sid}"  # noqa: E731
    page.route(session_read, lambda route: held.append(route))
    open_streams: set[Any] = set()
    page.on("request", lambda r: open_streams.add(r) if _is_stream(r.url, sid) else None)
    page.on("requestfinished", lambda r: open_streams.discard(r))
    page.on("requestfailed", lambda r: open_streams.discard(r))  # an aborted stream (the view unmounted) ends here

    page.goto(f"{served.url}/ui/sessions/{sid}")
    page.get_by_role("link", name="Checkpoints").click()
    page.get_by_role("heading", name="Checkpoints").wait_for()
    assert len(held) == 1, held
    held[0].continue_()  # the left view now gets its session
    page.unroute(session_read)

    # Back to the run: a new view reads the session and opens its stream. The left view's answer came first, so
    # whatever it was going to open is open by then.
    with page.expect_request(lambda r: _is_stream(r.url, sid)):
        page.get_by_role("link", name="← Back to the run").click()
    page.get_by_text(HELLO).wait_for()
    page.wait_for_selector("body[data-caught-up]")
    assert len(open_streams) == 1, [r.url for r in open_streams]


def test_a_page_whose_module_is_still_loading_does_not_replace_the_next_page(page: Any, served: Served) -> None:
    s = served.session("say hello")
    served.wait_idle(s["id"])
    held: list[Any] = []
    module = "**/ui/static/js/pages/run.js"  # preloaded by the shell and imported by the router
    page.route(module, lambda route: held.append(route))
    page.goto(served.url + "/", wait_until="domcontentloaded")  # the held preload would hold the load event
    page.wait_for_selector("body[data-ready]")
    page.locator(f".session-link[data-session-id='{s['id']}']").click()  # the run view's module is on its way
    page.wait_for_url(f"**/ui/sessions/{s['id']}")
    page.locator(".mainnav a[data-nav=review]").click()  # ...and the user moves on
    page.wait_for_url("**/ui/review")
    page.get_by_role("heading", name="Review queue").wait_for()
    assert held
    for route in held:
        route.continue_()
    page.unroute(module)
    # The same module, imported after the router's import: it resolves after the router has had its turn.
    page.evaluate("(src) => import(src).then(() => true)", f"{served.url}/ui/static/js/pages/run.js")
    painted(page)
    assert page.url.endswith("/ui/review")
    assert page.locator(".run").count() == 0, "the run view came back over the review page"
    page.get_by_role("heading", name="Review queue").wait_for()
