"""The web router over HTTP: the shell on every UI route, static modules, security headers, and the token hand-off."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web_router_harness import WebApp, build

from dexa.api.deps import COOKIE_NAME
from dexa.core.events import EventType
from dexa.web.shell import render_shell
from dexa.web.static_files import STATIC_DIR

JS = sorted(p.relative_to(STATIC_DIR).as_posix() for p in STATIC_DIR.rglob("*.js"))


def _config(html: str) -> dict[str, object]:
    m = re.search(r'<script type="application/json" id="dexa-config">(.*?)</script>', html, re.S)
    assert m, "the shell carries its config"
    return json.loads(m.group(1))


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/ui",
        "/ui/sessions/ses_1",
        "/ui/sessions/ses_1/checkpoints",
        "/ui/review?output=out_1&sig=abc",
        "/ui/config/audit",
        "/ui/login",
    ],
)
def test_every_ui_route_serves_the_shell_with_a_strict_content_security_policy(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["referrer-policy"] == "no-referrer"
    assert '<script type="module" src="/ui/static/js/main.js">' in r.text


def test_the_shell_config_lists_every_event_type_and_preloads_every_module(client: TestClient) -> None:
    html = client.get("/").text
    cfg = _config(html)
    assert cfg["eventTypes"] == EventType.all()
    assert cfg["modes"] == ["default", "acceptEdits", "plan", "bypassPermissions", "dontAsk"]
    assert cfg["local"] is True
    for rel in JS:
        assert f'<link rel="modulepreload" href="/ui/static/{rel}">' in html


def test_the_config_cannot_close_its_script_element() -> None:
    html = render_shell({"version": "</script><script>alert(1)</script>"}, [])
    assert "</script><script>alert(1)" not in html
    assert _config(html)["version"] == "</script><script>alert(1)</script>"


def test_static_modules_are_served_with_their_type_and_revalidated_by_etag(client: TestClient) -> None:
    r = client.get("/ui/static/js/main.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert r.headers["cache-control"] == "no-cache"
    again = client.get("/ui/static/js/main.js", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert client.get("/ui/static/css/app.css").headers["content-type"].startswith("text/css")


@pytest.mark.parametrize(
    "path",
    [
        "/ui/static/../router.py",
        "/ui/static/%2e%2e/router.py",
        "/ui/static/js/",
        "/ui/static/.hidden",
        "/ui/static/js/nope.js",
        "/ui/static/../__init__.py",
        "/ui/static/js/..%2f..%2frouter.py",
    ],
)
def test_static_paths_outside_the_ui_or_unknown_answer_a_404_problem(client: TestClient, path: str) -> None:
    r = client.get(path)
    # A client that normalises "/ui/static/../x" asks for "/ui/x": a shell route, never the file.
    normalised = r.status_code == 200 and r.text.startswith("<!doctype html>")
    assert normalised or (r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json"))
    assert "create_web_router" not in r.text and "import" not in r.text[:200]


def test_every_relative_import_in_the_ui_resolves_to_a_shipped_module() -> None:
    pattern = re.compile(r"""(?:from\s+|import\s*\(\s*)['"](\.{1,2}/[^'"]+)['"]""")
    for rel in JS:
        src = (STATIC_DIR / rel).read_text()
        for target in pattern.findall(src):
            resolved = (STATIC_DIR / rel).parent.joinpath(target).resolve()
            assert resolved.is_file(), f"{rel} imports {target}, which does not exist"


def test_the_ui_routes_stay_out_of_the_api_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p == "/" or p.startswith("/ui") or p == "/outputs/review"]


def test_a_local_browser_is_handed_the_local_token_as_an_httponly_strict_cookie(web: WebApp) -> None:
    with web.client() as c:
        r = c.get(f"/?code={web.codes.issue()}")
        cookie = r.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE_NAME}={web.token};")
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
        # The API reads the same cookie: the browser needs nothing else.
        assert c.get("/sessions").status_code == 200
        # Already signed in with a working key: not handed again.
        assert "set-cookie" not in c.get("/ui/review").headers


@pytest.mark.parametrize(
    ("peer", "base_url", "headers"),
    [
        ("203.0.113.9", "http://127.0.0.1:4096", {}),  # another machine
        ("127.0.0.1", "http://evil.example:4096", {}),  # DNS rebinding: hostile name, loopback IP
        ("127.0.0.1", "http://127.0.0.1:4096", {"X-Forwarded-For": "198.51.100.7"}),  # a proxy on this host
        ("127.0.0.1", "http://127.0.0.1:4096", {"Forwarded": "for=198.51.100.7"}),
    ],
)
def test_the_local_token_is_never_handed_to_anyone_but_this_machines_own_browser(
    web: WebApp, peer: str, base_url: str, headers: dict[str, str]
) -> None:
    with web.client(peer=peer, base_url=base_url) as c:
        r = c.get(f"/?code={web.codes.issue()}", headers=headers)
    assert r.status_code == 200 and "set-cookie" not in r.headers
    assert web.token not in r.text


def test_without_a_local_token_source_nobody_is_signed_in_by_the_page(tmp_path: Path) -> None:
    app = build(tmp_path, local=False)
    with app.client() as c:
        r = c.get("/")
        assert "set-cookie" not in r.headers and _config(r.text)["local"] is False
        assert c.get("/sessions").status_code == 401


def test_a_stale_cookie_is_replaced_by_the_working_local_token(web: WebApp) -> None:
    with web.client() as c:
        c.cookies.set(COOKIE_NAME, "dexa_stale_revoked_key")
        r = c.get(f"/?code={web.codes.issue()}")
        assert r.headers["set-cookie"].startswith(f"{COOKIE_NAME}={web.token};")


def test_login_checks_the_key_then_keeps_it_as_the_cookie_and_logout_clears_it(web: WebApp) -> None:
    with web.client(peer="203.0.113.9") as c:
        c.headers["Origin"] = "http://127.0.0.1:4096"  # as the login page's own fetch sends it
        bad = c.post("/ui/login", json={"token": "dexa_not_a_real_key_at_all"})
        assert bad.status_code == 401 and bad.json()["code"] == "unauthenticated"
        assert c.post("/ui/login", json={"token": "x"}).status_code == 422
        ok = c.post("/ui/login", json={"token": web.token})
        assert ok.status_code == 204 and "HttpOnly" in ok.headers["set-cookie"]
        assert c.get("/me").json()["user_id"] == "usr_local"
        out = c.post("/ui/logout")
        assert out.status_code == 204 and 'dexa_token=""' in out.headers["set-cookie"]
        c.cookies.clear()
        assert c.get("/me").status_code == 401


def test_an_approval_link_lands_on_the_review_queue_with_its_token(client: TestClient) -> None:
    r = client.get("/outputs/review?token=abc.def")
    assert r.status_code == 307 and r.headers["location"] == "/ui/review?token=abc.def"
    assert r.headers["referrer-policy"] == "no-referrer"
