"""The rich-client routes on a real `dexa serve` (uvicorn, the real runtime, bubblewrap workspaces): the terminal
over a WebSocket from the `websockets` client, MCP statuses from real stdio servers, and the files of a sandboxed
workspace."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from dexa.adapters.local_sandbox.bwrap import probe_bwrap

pytestmark = pytest.mark.skipif(probe_bwrap() is not None, reason=f"bubblewrap unusable: {probe_bwrap()}")
DEXA = str(Path(sys.executable).parent / "dexa")


@dataclass
class Served:
    url: str
    token: str
    work: Path
    user_home: Path

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def ws_url(self, path: str) -> str:
        return "ws" + self.url.removeprefix("http") + path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("serve")
    home, user_home, work = tmp / "dexa-home", tmp / "user-home", tmp / "work"
    for p in (home, user_home, work):
        p.mkdir()
    (user_home / "secret.txt").write_text("the host owner's secret\n")
    (work / "hello.txt").write_text("in the workspace\n")
    # The owner trusts the directory, as `dexa trust` records it, so its local-scope MCP servers load.
    trust = {"projects": {str(work.resolve()): {"hasTrustDialogAccepted": True}}}
    (user_home / ".claude.json").write_text(json.dumps(trust))
    env = {**os.environ, "DEXA_HOME": str(home), "HOME": str(user_home)}
    env.pop("ANTHROPIC_API_KEY", None)
    log = (tmp / "serve.log").open("w")
    proc = subprocess.Popen(
        [DEXA, "serve", "--port", "0"], env=env, cwd=work, stdout=subprocess.PIPE, stderr=log, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert "listening on" in line, f"dexa serve did not start: {line!r} {(tmp / 'serve.log').read_text()[-2000:]}"
    try:
        yield Served(
            url=line.split("listening on ")[1].split()[0],
            token=(home / "token").read_text().strip(),
            work=work,
            user_home=user_home,
        )
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
        log.close()


def _session(s: Served) -> str:
    r = httpx.post(f"{s.url}/sessions", json={"title": "rich client"}, headers=s.headers, timeout=60)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _until(ws: Any, needle: str, seen: list[str], timeout: float = 20) -> dict[str, Any]:
    """Read frames until the output so far contains `needle` (or an exit frame comes); the last frame."""
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await ws.recv())
            seen.append(frame.get("data", ""))
            if frame["type"] == "exit" or needle in "".join(seen):
                return frame


def test_the_terminal_runs_a_shell_inside_the_sessions_sandbox(served: Served) -> None:
    sid = _session(served)

    async def main() -> None:
        url = served.ws_url(f"/sessions/{sid}/terminal?cols=100&rows=30")
        async with websockets.connect(url, additional_headers=served.headers) as ws:
            assert json.loads(await ws.recv()) == {"type": "ready", "cols": 100, "rows": 30}
            out: list[str] = []
            secret = served.user_home / "secret.txt"
            await ws.send(json.dumps({"type": "input", "data": f"cat hello.txt {secret}; stty size; echo A$((6*7))\n"}))
            await _until(ws, "A42", out)
            text = "".join(out)
            assert "in the workspace" in text and "30 100" in text
            assert "the host owner's secret" not in text and "No such file or directory" in text
            await ws.send(json.dumps({"type": "resize", "cols": 132, "rows": 43}))
            await ws.send(json.dumps({"type": "input", "data": "stty size; echo B$((1+1))\n"}))
            await _until(ws, "B2", out)
            assert "43 132" in "".join(out)
            # The job says it runs from inside itself: by then it holds the terminal, so Ctrl-C reaches it (sent
            # after a fixed pause, it could beat the job's start on a loaded machine and hit the shell instead).
            await ws.send(json.dumps({"type": "input", "data": "sh -c 'echo S$((3+4)); exec sleep 60'\n"}))
            await _until(ws, "S7", out)
            await ws.send(json.dumps({"type": "input", "data": "\x03echo C$((2+1))\n"}))  # Ctrl-C reaches the job
            await _until(ws, "C3", out, timeout=10)
            await ws.send(json.dumps({"type": "input", "data": "touch made-in-terminal; exit 7\n"}))
            last = await _until(ws, "\x00never", out)
            assert last == {"type": "exit", "code": 7}
        assert (served.work / "made-in-terminal").exists()  # the same workspace the session's tools use

    asyncio.run(main())


def test_a_browser_opens_the_terminal_with_a_single_use_ticket(served: Served) -> None:
    sid = _session(served)
    ticket = httpx.post(f"{served.url}/sessions/{sid}/terminal/tickets", headers=served.headers).json()
    assert ticket["url"].startswith("ws://") and "ticket=" in ticket["url"]

    async def main() -> None:
        async with websockets.connect(ticket["url"]) as ws:
            assert json.loads(await ws.recv())["type"] == "ready"
            await ws.send(json.dumps({"type": "input", "data": "echo via-ticket\n"}))
            await _until(ws, "via-ticket\r\n", [])
            await ws.send(json.dumps({"type": "close"}))
        for url, code in (
            (ticket["url"], 4401),  # spent
            (served.ws_url(f"/sessions/{sid}/terminal"), 4401),  # no credentials (cookies are not accepted)
            (served.ws_url(f"/sessions/{sid}/terminal?ticket=forged.sig"), 4401),
            (served.ws_url("/sessions/ses_nope/terminal?ticket=" + ticket["ticket"]), 4401),  # another session's
        ):
            async with websockets.connect(url) as ws:
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await ws.recv()
                assert closed.value.rcvd is not None and closed.value.rcvd.code == code, url
        async with websockets.connect(
            served.ws_url("/sessions/ses_nope/terminal"), additional_headers=served.headers
        ) as ws:
            with pytest.raises(websockets.ConnectionClosed) as missing:
                await ws.recv()
            assert missing.value.rcvd is not None and missing.value.rcvd.code == 4404

    asyncio.run(main())


def test_mcp_servers_added_through_the_api_report_connected_or_failed(served: Served) -> None:
    sid = _session(served)
    h = served.headers
    time_server = {"type": "stdio", "command": sys.executable, "args": ["-m", "mcp_server_time"]}
    with httpx.Client(base_url=served.url, headers=h, timeout=60) as c:
        added = c.post(f"/sessions/{sid}/mcp", json={"name": "time", "config": time_server}).json()
        assert added["reloaded"] is True
        assert added["server"]["status"] == "connected" and "get_current_time" in added["server"]["tools"]
        broken = c.post(f"/sessions/{sid}/mcp", json={"name": "broken", "config": {"command": "/nonexistent/srv"}})
        assert broken.json()["server"]["status"] == "failed" and broken.json()["server"]["error"]
        listed = {m["name"]: m["status"] for m in c.get(f"/sessions/{sid}/mcp").json()["data"]}
        assert listed == {"time": "connected", "broken": "failed"}
        assert c.get(f"/sessions/{sid}/mcp/time").json()["status"] == "connected"
        assert c.delete(f"/sessions/{sid}/mcp/broken").status_code == 204
        assert [m["name"] for m in c.get(f"/sessions/{sid}/mcp").json()["data"]] == ["time"]
        assert c.get(f"/sessions/{sid}/mcp/broken").status_code == 404
        c.delete(f"/sessions/{sid}/mcp/time")


def test_files_of_a_sandboxed_workspace_are_read_searched_and_indexed(served: Served) -> None:
    (served.work / "pkg").mkdir(exist_ok=True)
    (served.work / "pkg" / "mod.py").write_text("def served_symbol():\n    return 'needle'\n")
    sid = _session(served)
    with httpx.Client(base_url=served.url, headers=served.headers, timeout=60) as c:
        names = [e["name"] for e in c.get(f"/sessions/{sid}/files").json()["data"]]
        assert "pkg" in names and "hello.txt" in names
        assert c.get(f"/sessions/{sid}/files/content", params={"path": "hello.txt"}).json()["content"] == (
            "in the workspace\n"
        )
        found = c.get(f"/sessions/{sid}/files/search", params={"pattern": "needle"}).json()
        assert [(m["path"], m["line"]) for m in found["data"]] == [("pkg/mod.py", 2)]
        symbols = c.get(f"/sessions/{sid}/files/symbols", params={"query": "served_"}).json()
        assert [(s["name"], s["path"]) for s in symbols["data"]] == [("served_symbol", "pkg/mod.py")]
        assert symbols["engine"] in ("ctags", "regex")


def test_adding_an_mcp_server_never_closes_an_open_terminal(served: Served) -> None:
    sid = _session(served)
    time_server = {"type": "stdio", "command": sys.executable, "args": ["-m", "mcp_server_time"]}

    async def main() -> None:
        url = served.ws_url(f"/sessions/{sid}/terminal")
        async with websockets.connect(url, additional_headers=served.headers) as ws:
            await ws.recv()
            async with httpx.AsyncClient(base_url=served.url, headers=served.headers, timeout=60) as c:
                added = (await c.post(f"/sessions/{sid}/mcp", json={"name": "later", "config": time_server})).json()
            assert added["reloaded"] is False and "terminal" in added["detail"]
            await ws.send(json.dumps({"type": "input", "data": "echo still-$((20+1))\n"}))
            assert (await _until(ws, "still-21", []))["type"] == "output"
        async with httpx.AsyncClient(base_url=served.url, headers=served.headers, timeout=60) as c:
            await c.delete(f"/sessions/{sid}/mcp/later")

    asyncio.run(main())


def test_a_session_opens_at_most_eight_terminals_at_once(served: Served) -> None:
    sid = _session(served)
    url = served.ws_url(f"/sessions/{sid}/terminal")

    async def main() -> None:
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(8):
                ws = await stack.enter_async_context(websockets.connect(url, additional_headers=served.headers))
                assert json.loads(await ws.recv())["type"] == "ready"
            async with websockets.connect(url, additional_headers=served.headers) as ninth:
                with pytest.raises(websockets.ConnectionClosed) as refused:
                    await ninth.recv()
                assert refused.value.rcvd is not None and refused.value.rcvd.code == 4429
        for _ in range(100):  # the server closes the eight shells after their sockets; then there is room again
            async with websockets.connect(url, additional_headers=served.headers) as again:
                with contextlib.suppress(websockets.ConnectionClosed):
                    if json.loads(await again.recv())["type"] == "ready":
                        return
            await asyncio.sleep(0.1)
        raise AssertionError("no terminal could be opened after the eight were closed")

    asyncio.run(main())
