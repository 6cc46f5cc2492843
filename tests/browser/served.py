"""`dexa serve` as a user runs it: a real subprocess with the real engine, SQLite store, bubblewrap sandbox and
checkpoints, its model answered by the loopback Messages API (`dexa.testing.messages_api`) from a script.

The script is stateless: a request with N assistant messages gets turn N, so every session on one server follows
the same script; a module starts one server for its scenario and its tests share it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from dexa.testing.messages_api import FakeMessagesServer
from dexa.testing.messages_api import serve as serve_model
from dexa.testing.script import Script


class Served:
    def __init__(self, tmp: Path, turns: list[dict[str, Any]] | Script, *, setup: Sequence[Sequence[str]] = ()) -> None:
        self.tmp = tmp
        self.home, self.user_home, self.ws = tmp / "dexa-home", tmp / "home", tmp / "ws"
        for d in (self.home, self.user_home, self.ws):
            d.mkdir(parents=True, exist_ok=True)
        if isinstance(turns, Script):
            self.model: FakeMessagesServer = serve_model(turns)
        else:
            script = tmp / "script.json"
            script.write_text(json.dumps({"turns": turns}))
            self.model = serve_model(script)
        self.env = {
            **os.environ,
            "DEXA_HOME": str(self.home),
            "HOME": str(self.user_home),
            "ANTHROPIC_BASE_URL": self.model.url,
            "ANTHROPIC_API_KEY": "sk-test-loopback",
        }
        self.env.pop("DEXA_BENCH_FAKE_ENV", None)
        for args in setup:  # e.g. `dexa integrations add demo`, as a user would before serving
            done = subprocess.run(
                [sys.executable, "-m", "dexa.cli", *args], env=self.env, cwd=self.ws, capture_output=True, text=True
            )
            assert done.returncode == 0, f"dexa {' '.join(args)}: {done.stderr or done.stdout}"
        self.log = (tmp / "serve.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dexa.cli", "serve", "--port", "0"],
            env=self.env,
            cwd=self.ws,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        assert "listening on" in first, f"dexa serve did not start: {first!r}\n{self._log_tail()}"
        self.url = first.split("listening on ")[1].split()[0]
        second = self.proc.stdout.readline()
        assert "/?code=" in second, second
        # The one-time link `dexa serve` prints: the way a browser is handed the local key.
        self.handoff = second.split("open ")[1].strip()
        self.handoff_used = False
        token = (self.home / "token").read_text().strip()
        self.http = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def sign_in(self, page: Any) -> None:
        """As a user does: the one-time link `dexa serve` printed, then (once spent) the key pasted at /ui/login."""
        if not self.handoff_used:
            self.handoff_used = True
            page.goto(self.handoff)
        else:
            page.goto(f"{self.url}/ui/login")
            page.get_by_label("API key").fill((self.home / "token").read_text().strip())
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{self.url}/")
        page.wait_for_selector("body[data-ready]")

    def _log_tail(self) -> str:
        self.log.flush()
        return (self.tmp / "serve.log").read_text()[-3000:]

    def call(self, method: str, path: str, body: Any = None) -> Any:
        res = self.http.request(method, path, json=body)
        assert res.status_code < 300, f"{method} {path}: {res.status_code} {res.text[:2000]}\n{self._log_tail()}"
        return res.json() if res.content else None

    def session(self, prompt: str, **extra: Any) -> dict[str, Any]:
        return self.call("POST", "/sessions", {"prompt": prompt, **extra})

    def wait_idle(self, session_id: str, timeout: float = 60) -> dict[str, Any]:
        """The session once its turn is over and logged: the engine marks it idle just before it appends
        turn.completed and session.idle, so the status alone can come with a last_seq two events short."""
        s: dict[str, Any] = {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = self.call("GET", f"/sessions/{session_id}")
            if s["turn"] is None and s["status"] not in ("running", "waiting"):
                if self._event_type(session_id, s["last_seq"]) == "session.idle":
                    return s
            time.sleep(0.1)
        raise AssertionError(f"session {session_id} still busy after {timeout}s: {s}\n{self._log_tail()}")

    def _event_type(self, session_id: str, seq: int) -> str | None:
        res = self.http.get(f"/sessions/{session_id}/events", params={"mode": "poll", "after": max(0, seq - 1)})
        assert res.status_code == 200, f"events of {session_id}: {res.status_code} {res.text[:500]}"
        for line in res.text.splitlines():
            if line.startswith("data:"):
                ev = json.loads(line[5:])
                if ev.get("seq") == seq:
                    return str(ev.get("type"))
        return None

    def stop(self) -> None:
        self.http.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        self.model.close()


def wait_until(cond: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


# The layout checks both viewports get: nothing wider than the viewport, the controls that matter on screen.
LAYOUT_JS = (Path(__file__).parent / "layout_check.js").read_text()


def painted(page: Any) -> None:
    """Wait until the browser has painted what the last change laid out (two animation frames), not a fixed time."""
    page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")


def check_layout(page: Any, selectors: list[str], shot: Path) -> None:
    """Screenshot, then assert: no horizontal overflow, and every selector's elements visible in the viewport."""
    page.screenshot(path=str(shot), full_page=False)
    got = page.evaluate(LAYOUT_JS, selectors)
    assert got["scrollWidth"] <= got["vw"], f"{shot.name}: page scrolls sideways ({got['scrollWidth']} > {got['vw']})"
    assert not got["wide"], f"{shot.name}: elements wider than the viewport: {got['wide']}"
    assert not got["hidden"], f"{shot.name}: controls hidden or off screen: {got['hidden']}"


def run_main_session(served: Served, prompt: str = "[main] review me") -> str:
    """The "[main]" scenario (scenarios.py) driven through the API to its end: its Bash approval allowed once."""
    s = served.session(prompt)
    pending = wait_until(
        lambda: served.call("GET", f"/sessions/{s['id']}/approvals?status=pending")["data"], 30, "the Bash approval"
    )
    served.call("POST", f"/sessions/{s['id']}/approve", {"approval_id": pending[0]["id"], "decision": "once"})
    served.wait_idle(s["id"])
    return str(s["id"])
