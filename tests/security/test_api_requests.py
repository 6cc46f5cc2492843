"""Attack #7's hand-off half and the API items of "Medium and low": the local key hand-off, members granting
themselves network, `scripted:` model paths, cross-origin cookie writes and the request-body limit."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from api_rig import Rig, make_rig, tree_digest

from dexa.api.deps import COOKIE_NAME


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return make_rig(tmp_path)


# ------------------------------------------------------------------ the local key hand-off


def test_a_loopback_request_without_the_printed_code_gets_no_key(rig: Rig) -> None:
    codes = rig.app.state.handoff_codes
    with rig.client() as c:
        plain = c.get("/", headers={"Accept": "text/html", "User-Agent": "Mozilla/5.0"})
        assert "set-cookie" not in plain.headers and rig.tokens["local"] not in plain.text
        assert "set-cookie" not in c.get("/?code=guessed-code").headers
        code = codes.issue()
        first = c.get(f"/?code={code}")
        assert first.headers["set-cookie"].startswith(f"{COOKIE_NAME}={rig.tokens['local']};")
    with rig.client() as other:  # the same code again, from a fresh client (say, a sandbox that read a log)
        assert "set-cookie" not in other.get(f"/?code={code}").headers
        assert other.get("/me").status_code == 401


def test_a_handoff_code_expires() -> None:
    from dexa.web import HandoffCodes

    now = [0.0]
    codes = HandoffCodes(ttl_s=60, clock=lambda: now[0])
    code = codes.issue()
    now[0] = 61.0
    assert codes.redeem(code) is False
    assert codes.redeem(codes.issue()) is True


# ------------------------------------------------------------------ network, scripted models


def test_a_member_cannot_grant_itself_network(rig: Rig) -> None:
    with rig.client() as c:
        r = c.post("/sessions", json={"network": True}, headers=rig.h("b_member"))
        assert r.status_code == 403 and r.json()["detail"].startswith("network:")
        assert c.get("/sessions", headers=rig.h("b_member")).json()["count"] == 0
        assert c.post("/sessions", json={"network": True}, headers=rig.h("b_admin")).status_code == 201
        asyncio.run(
            rig.runtime.store.kv_put("org_policy", "session", {"memberNetworkLevels": ["full"]}, org_id="org_b")
        )
        assert c.post("/sessions", json={"network": True}, headers=rig.h("b_member")).status_code == 201
        # Org b's policy says nothing for org a.
        assert c.post("/sessions", json={"network": True}, headers=rig.h("a_member")).status_code == 403


def test_scripted_model_paths_are_refused_outside_test_mode(rig: Rig, tmp_path: Path) -> None:
    before = tree_digest(rig.user_home)
    with rig.client() as c:
        for model in (f"scripted:{rig.user_home}/secret.txt", "scripted:/etc/passwd"):
            r = c.post("/sessions", json={"model": model, "prompt": "hi"}, headers=rig.h("b_admin"))
            assert r.status_code == 403 and r.json()["detail"].startswith("model:"), r.text
        r = c.post(
            "/schedules",
            json={"cron": "0 9 * * 1-5", "prompt": "x", "model": "scripted:/etc/passwd"},
            headers=rig.h("b_admin"),
        )
        assert r.status_code == 403
    assert tree_digest(rig.user_home) == before
    test_rig = make_rig(tmp_path / "t", test_mode=True)
    with test_rig.client() as c:
        assert c.post("/sessions", json={"model": "scripted:x.json"}, headers=test_rig.h("b_admin")).status_code == 201


# ------------------------------------------------------------------ CSRF


def test_cookie_authenticated_writes_need_a_same_origin_request(rig: Rig) -> None:
    with rig.client() as c:
        c.cookies.set(COOKIE_NAME, rig.tokens["b_admin"])
        for headers in ({}, {"Origin": "http://127.0.0.1:8000"}, {"Sec-Fetch-Site": "same-site"}):
            r = c.post("/sessions", json={}, headers=headers)
            assert r.status_code == 403 and "cross-origin" in r.json()["detail"], headers
            r = c.delete("/schedules/sch_0123456789abcdef", headers=headers)
            assert r.status_code == 403
        assert c.get("/sessions", headers=rig.h("b_admin")).json()["count"] == 0
        assert c.get("/sessions").status_code == 200  # reads by cookie are fine
        assert c.post("/sessions", json={}, headers={"Origin": "http://127.0.0.1:4096"}).status_code == 201
        assert c.post("/sessions", json={}, headers={"Sec-Fetch-Site": "same-origin"}).status_code == 201
    with rig.client() as bearer:  # explicit credentials are unaffected
        assert bearer.post("/sessions", json={}, headers=rig.h("b_admin")).status_code == 201


# ------------------------------------------------------------------ request-body limit (a real server)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Rig, int]]:
    rig = make_rig(tmp_path, max_body_bytes=64 * 1024)
    server = uvicorn.Server(uvicorn.Config(rig.app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield rig, port
    server.should_exit = True
    thread.join(10)


def _read_response(sock: socket.socket) -> bytes:
    sock.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_an_unauthenticated_huge_body_is_refused_before_it_is_read(served: tuple[Rig, int]) -> None:
    _, port = served
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(
            b"POST /sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 300000000\r\n\r\n{"
        )
        head = _read_response(s)
    assert head.startswith(b"HTTP/1.1 413"), head[:200]
    assert b"application/problem+json" in head


def test_a_chunked_body_is_cut_off_once_it_passes_the_limit(served: tuple[Rig, int]) -> None:
    _, port = served
    sent = 0
    answer = b""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"POST /sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n")
        s.settimeout(0.05)
        chunk = b"x" * 8192
        try:
            while sent < 50 * 1024 * 1024:
                s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
                try:
                    answer += s.recv(65536)
                except TimeoutError:
                    continue
                if answer:
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
        if not answer:
            answer = _read_response(s)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 8 * 1024 * 1024  # refused long before 50 MB went in


def test_the_limit_comes_before_authentication_and_small_bodies_pass(served: tuple[Rig, int]) -> None:
    import httpx

    rig, port = served
    url = f"http://127.0.0.1:{port}"
    big = httpx.post(f"{url}/sessions", content=b"{" + b" " * 70_000 + b"}")
    assert big.status_code == 413 and big.json()["code"] == "body_too_large"
    assert httpx.post(f"{url}/sessions", json={}).status_code == 401
    ok: Any = httpx.post(f"{url}/sessions", json={}, headers=rig.h("b_admin"))
    assert ok.status_code == 201
