"""`kill -9` of `dexa serve` mid-tool, then a restart: the turn completes, the tool's effect happens exactly once, the
event seqs stay contiguous, and schedules run. A second server on the same home does not drive the turn twice.
A session whose environment cannot be built ends its turn with an error event and goes back to idle.

Real parts throughout: `dexa serve` subprocesses on 127.0.0.1, the SQLite store, the bubblewrap sandbox and its
job journal, the Anthropic adapter talking to the loopback Messages API (`dexa.testing.messages_api`), whose script
answers statelessly by counting the assistant messages it is sent, so it also counts how often the model was asked.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dexa.testing.messages_api import FakeMessagesServer
from dexa.testing.messages_api import serve as serve_model

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap")

SLEEP_S = 3


class Served:
    """One `dexa serve` process on a given home, with an API client authenticated by the local token."""

    def __init__(self, home: Path, cwd: Path, env: dict[str, str], log: Path) -> None:
        self.home, self.log_path = home, log
        self.log = log.open("a")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dexa.cli", "serve", "--port", "0"],
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            start_new_session=True,
        )
        self.http = httpx.Client()

    def ready(self) -> Served:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # the server announces its port once started (resumed turns included)
        assert "listening on" in line, f"dexa serve did not start: {line!r}\n{self.log_path.read_text()[-3000:]}"
        url = line.split("listening on ")[1].split()[0]
        token = (self.home / "token").read_text().strip()
        self.http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        return self

    def kill9(self) -> None:
        # Only the server: the sandboxed job it started must outlive it, as it would after a real crash.
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.http.close()

    def stop(self) -> None:
        self.http.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def call(self, method: str, path: str, **kw: Any) -> Any:
        res = self.http.request(method, path, **kw)
        assert res.status_code < 300, f"{method} {path}: {res.status_code} {res.text[:2000]}"
        return res.json() if res.content else None

    def events(self, session_id: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            after = out[-1]["seq"] if out else 0
            res = self.http.get(f"/sessions/{session_id}/events", params={"mode": "poll", "after": after})
            assert res.status_code == 200, res.text
            page = [json.loads(ln[5:]) for ln in res.text.splitlines() if ln.startswith("data:")]
            if not page:
                return out
            out.extend(page)

    def wait_idle(self, session_id: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = self.call("GET", f"/sessions/{session_id}")
            if s["turn"] is None and s["status"] != "running":
                return s
            time.sleep(0.1)
        raise AssertionError(f"session {session_id} still busy after {timeout}s: {s}")


TOOL_TURNS = [
    {"text": "appending", "tool_uses": [{"name": "Bash", "input": {"command": f"echo x >> out.txt; sleep {SLEEP_S}"}}]},
    {"text": "all done"},
]


class Rig:
    """Servers on one home, all answered by one loopback model (its script: `use_model`, else TOOL_TURNS)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.home, self.user_home, self.ws = tmp / "dexa-home", tmp / "home", tmp / "ws"
        for d in (self.home, self.user_home, self.ws):
            d.mkdir()
        self.model: FakeMessagesServer | None = None
        self.servers: list[Served] = []

    def use_model(self, turns: list[dict[str, Any]]) -> FakeMessagesServer:
        script = self.tmp / "model" / "script.json"
        script.parent.mkdir()
        script.write_text(json.dumps({"turns": turns}))
        self.model = serve_model(script)
        return self.model

    def serve(self) -> Served:
        return self.launch().ready()

    def launch(self) -> Served:
        model = self.model or self.use_model(TOOL_TURNS)
        env = {
            **os.environ,
            "DEXA_HOME": str(self.home),
            "HOME": str(self.user_home),
            "ANTHROPIC_BASE_URL": model.url,
            "ANTHROPIC_API_KEY": "sk-test-loopback",
        }
        env.pop("DEXA_BENCH_FAKE_ENV", None)
        server = Served(self.home, self.ws, env, self.tmp / "serve.log")
        self.servers.append(server)
        return server

    def requests(self) -> list[Any]:
        assert self.model is not None
        return self.model.message_requests()

    def close(self) -> None:
        for s in self.servers:
            s.stop()
        if self.model is not None:
            self.model.close()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    rig = Rig(tmp_path)
    excluded = (rig.home, rig.ws, tmp_path / "model")
    outside_before = _snapshot(tmp_path, exclude=excluded)
    try:
        yield rig
    finally:
        rig.close()
    # Nothing outside the server's home and the workspace changed.
    assert _snapshot(tmp_path, exclude=excluded) == outside_before


def _snapshot(root: Path, *, exclude: tuple[Path, ...]) -> dict[str, float]:
    out: dict[str, float] = {}
    for p in root.rglob("*"):
        if any(p == e or e in p.parents for e in exclude) or p.name == "serve.log":
            continue
        out[str(p)] = p.stat().st_mtime if p.is_file() else 0.0
    return out


def _wait_for(cond: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _start_tool_turn(server: Served) -> tuple[str, Path]:
    created = server.call("POST", "/sessions", json={"prompt": "append a line", "allowed_tools": ["Bash"]})
    out = Path(created["cwd"]) / "out.txt"
    _wait_for(out.exists, 30, "the Bash tool to start writing out.txt")
    return created["id"], out


def _assert_completed_once(server: Served, session_id: str, out: Path) -> list[dict[str, Any]]:
    session = server.wait_idle(session_id)
    assert session["status"] == "idle" and session["result"] == "all done", session
    assert out.read_text() == "x\n", "the tool ran more (or less) than once"
    events = server.events(session_id)
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(seqs) + 1)), f"event seqs not contiguous: {seqs}"
    types = [e["type"] for e in events]
    assert types.count("turn.completed") == 1 and types.count("tool.started") >= 1, types
    completed = [e["data"] for e in events if e["type"] == "tool.completed"]
    assert len(completed) == 1 and completed[0]["status"] == "done", completed
    messages = [e["data"]["message"] for e in events if e["type"] == "message.assistant"]
    assert messages and messages[-1]["content"][-1]["text"] == "all done", messages[-1:]
    return events


def test_kill9_mid_tool_then_restart_completes_the_turn_exactly_once(rig: Rig) -> None:
    first = rig.serve()
    session_id, out = _start_tool_turn(first)
    first.kill9()  # the tool is mid-sleep: its line is written, its result is not
    assert out.read_text() == "x\n"

    second = rig.serve()
    _assert_completed_once(second, session_id, out)
    # The sleep finished after the crash; recovery waited for the journaled job instead of running it again.
    time.sleep(0.5)
    assert out.read_text() == "x\n"
    assert len(rig.requests()) == 2  # the tool call, then the final answer: nothing asked twice


def test_two_servers_on_one_home_resume_the_turn_once(rig: Rig) -> None:
    first = rig.serve()
    session_id, out = _start_tool_turn(first)
    first.kill9()

    # Both start at once and race for the turn at start-up.
    a, b = rig.launch(), rig.launch()
    a.ready(), b.ready()
    finished = _assert_completed_once(a, session_id, out)
    assert _assert_completed_once(b, session_id, out) == finished  # one log, read through either server
    # Exactly one of them drove it: the model was asked for its final answer once.
    assert len(rig.requests()) == 2
    assistants = [e for e in finished if e["type"] == "message.assistant"]
    assert len(assistants) == 2, [e["data"]["message"]["id"] for e in assistants]


def test_schedule_fires_after_a_restart(rig: Rig) -> None:
    rig.use_model([{"text": "scheduled work done"}])
    first = rig.serve()
    probe = first.call("POST", "/sessions", json={})  # where this org's sessions live
    first.call("POST", "/schedules", json={"cron": "* * * * *", "prompt": "scheduled work", "cwd": probe["cwd"]})
    first.kill9()

    second = rig.serve()

    def scheduled() -> list[dict[str, Any]]:
        rows = second.call("GET", "/sessions", params={"limit": 50})["data"]
        return [r for r in rows if r["title"].startswith("schedule ")]

    _wait_for(lambda: bool(scheduled()), 30, "the scheduler to start a session")
    run = second.wait_idle(scheduled()[0]["id"])
    assert run["turns_completed"] == 1 and run["result"] == "scheduled work done"


def test_failed_environment_build_is_an_error_event_and_the_session_goes_idle(rig: Rig) -> None:
    rig.use_model([{"text": "unreachable"}])
    server = rig.serve()
    probe = server.call("POST", "/sessions", json={})
    sub = Path(probe["cwd"]) / "doomed"
    sub.mkdir()
    created = server.call("POST", "/sessions", json={"cwd": str(sub)})
    shutil.rmtree(created["cwd"])  # the workspace vanishes: its sandbox cannot be built

    server.call("POST", f"/sessions/{created['id']}/messages", json={"prompt": "go"})
    session = server.wait_idle(created["id"], timeout=30)
    assert session["status"] == "idle" and session["turn"] is None
    events = server.events(created["id"])
    errors = [e["data"] for e in events if e["type"] == "error"]
    assert len(errors) == 1 and errors[0]["code"] == "environment_error", errors
    assert "session environment" in errors[0]["message"] and created["cwd"] in errors[0]["message"]
    assert [e["type"] for e in events][-2:] == ["turn.failed", "session.idle"]
    assert not Path(created["cwd"]).exists()  # nothing was recreated behind the failure
    assert rig.requests() == []
