"""`dexa chat` as a person uses it: a real terminal (pty), a real `dexa serve`, the real engine, and the scripted
model behind the loopback Messages API (through the real anthropic SDK)."""

from __future__ import annotations

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
from pty_session import PtySession

from dexa.auth.bootstrap import read_local_token

DEXA = str(Path(sys.executable).parent / "dexa")


@dataclass
class World:
    env: dict[str, str]
    ws: Path
    server: str
    model_url: str
    token: str
    serve: subprocess.Popen[str]

    def api(self, method: str, path: str) -> Any:
        r = httpx.request(method, self.server + path, headers={"Authorization": f"Bearer {self.token}"}, timeout=30)
        r.raise_for_status()
        return r.json()

    def sessions(self) -> list[dict[str, Any]]:
        return self.api("GET", "/sessions")["data"]

    def model_requests(self) -> list[dict[str, Any]]:
        reqs = httpx.get(self.model_url + "/_dexa/requests", timeout=10).json()["requests"]
        return [r for r in reqs if r["path"].startswith("/v1/messages") and "count_tokens" not in r["path"]]

    def chat(self, *args: str) -> PtySession:
        return PtySession([DEXA, "chat", *args], env=self.env, cwd=str(self.ws), cols=250)


def _started(proc: subprocess.Popen[str], marker: str) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert marker in line, f"did not start: {line!r}"
    return line.split(marker)[1].split()[0]


@pytest.fixture
def world(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[World]:
    turns: list[dict[str, Any]] = request.param
    home, ws = tmp_path / "home", tmp_path / "ws"
    (ws / ".claude" / "commands").mkdir(parents=True)
    (home / ".claude").mkdir(parents=True)
    (ws / ".claude" / "commands" / "greet.md").write_text(
        "---\ndescription: Greet someone by name\n---\nSay hello to $ARGUMENTS.\n"
    )
    (ws / "CLAUDE.md").write_text("Answer briefly.\n")
    (home / ".claude" / "settings.json").write_text(json.dumps({"permissions": {"allow": ["Bash(sleep:*)", "Write"]}}))
    time_server = {"command": sys.executable, "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"]}
    (home / ".claude.json").write_text(json.dumps({"mcpServers": {"time": time_server}}))
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"turns": turns}).replace("{ws}", str(ws)))
    env = {
        **os.environ,
        "HOME": str(home),
        "DEXA_HOME": str(home / ".dexa"),
        "ANTHROPIC_API_KEY": "sk-test",
        "PROMPT_TOOLKIT_NO_CPR": "1",
        "TERM": "xterm-256color",
        # Wide enough that a long temporary path is never wrapped in the middle of a word the test looks for.
        "COLUMNS": "250",
    }
    env.pop("DEXA_BENCH_FAKE_ENV", None)
    fake = subprocess.Popen(
        [sys.executable, "-m", "dexa.testing.messages_api", "--script", str(script)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    model_url = _started(fake, "listening on ")
    env["ANTHROPIC_BASE_URL"] = model_url
    subprocess.run([DEXA, "trust"], env=env, cwd=ws, check=True, capture_output=True)
    serve = subprocess.Popen(
        [DEXA, "serve", "--port", "0"], env=env, cwd=ws, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        server = _started(serve, "listening on ")
        env["DEXA_SERVER"] = server
        token = read_local_token(home / ".dexa") or ""
        yield World(env=env, ws=ws, server=server, model_url=model_url, token=token, serve=serve)
    finally:
        serve.send_signal(signal.SIGINT)
        fake.terminate()
        serve.wait(timeout=20)
        fake.wait(timeout=10)


CONVERSATION = [
    {"text": "Hi from the scripted model."},
    {"text": "Greetings, world!"},
    {"text": "Third answer."},
    {"text": "Summary: a greeting and two answers."},
]


@pytest.mark.parametrize("world", [CONVERSATION], indirect=True)
def test_slash_commands_work_in_the_repl_and_unknown_ones_never_reach_the_model(world: World) -> None:
    chat = world.chat()
    at = chat.expect("/help lists the commands")
    assert world.sessions() == []  # opening the REPL creates nothing

    chat.line("/help")
    at = chat.expect("/greet", after=at)
    shown = chat.text
    for name in ("/clear", "/compact", "/rewind", "/cost", "/model", "/mcp", "/permissions", "/agents", "/memory"):
        assert name in shown
    assert "/resume" in shown and "Greet someone by name" in shown

    chat.line("/xyz now")
    at = chat.expect("unknown command", after=at)
    assert world.sessions() == [] and world.model_requests() == []

    chat.line("hello")
    at = chat.expect("Hi from the scripted model.", after=at)
    at = chat.expect("turn 1 done", after=at)
    assert len(world.sessions()) == 1

    chat.line("/greet world")
    at = chat.expect("Greetings, world!", after=at)
    assert "Say hello to world." in json.dumps(world.model_requests()[-1]["body"])

    chat.line("and a third")
    at = chat.expect("Third answer.", after=at)
    at = chat.expect("turn 3 done", after=at)

    chat.line("/cost")
    at = chat.expect("Tokens:", after=at)
    assert "Total cost:  $" in chat.text[at - 200 :]

    chat.line("/compact")
    at = chat.expect("Compacted:", after=at)

    chat.line("/model haiku")
    at = chat.expect("Model set to haiku", after=at)
    chat.line("/model")
    at = chat.expect("Model: haiku", after=at)

    chat.line("/mcp")
    at = chat.expect("tools", after=at)
    assert "time (user) ✔ connected · 2 tools" in chat.text
    chat.line("/permissions")
    at = chat.expect("Bash(sleep:*)", after=at)
    chat.line("/memory")
    at = chat.expect("CLAUDE.md", after=at)
    chat.line("/agents")
    at = chat.expect("general-purpose", after=at)

    chat.line("/rewind")
    at = chat.expect("Rewind to which checkpoint?", after=at)
    chat.line("1")
    at = chat.expect("Restore [b]oth", after=at)
    chat.line("o")
    at = chat.expect("Rewound conversation to", after=at)

    sid = world.sessions()[0]["id"]
    chat.line("/clear")
    at = chat.expect("New conversation", after=at)
    chat.line("/resume")
    at = chat.expect(sid, after=at)
    chat.line("1")
    at = chat.expect(f"Resumed {sid}", after=at)

    chat.line("/exit")
    assert chat.close() == 0
    assert len(world.sessions()) == 1  # /clear with no prompt after it left no empty session


SLOW_TOOL = [
    {"text": "Waiting a while.", "tool_uses": [{"name": "Bash", "input": {"command": "sleep 60"}}]},
    {"text": "Back after the interrupt."},
]


@pytest.mark.parametrize("world", [SLOW_TOOL], indirect=True)
def test_escape_interrupts_the_running_turn_and_the_repl_goes_on(world: World) -> None:
    chat = world.chat()
    at = chat.expect("/help lists the commands")
    chat.line("take your time")
    at = chat.expect("Waiting a while.", after=at)
    at = chat.expect("esc to interrupt", after=at)  # the spinner, with elapsed time and tokens
    spinner = chat.text[at - 80 : at]
    assert "Working… (" in spinner and "s · " in spinner and "tokens" in spinner
    chat.send("\x1b")
    at = chat.expect("Interrupted", after=at, timeout=30)
    session = world.sessions()[0]
    assert session["status"] != "running" and session["turn"] is None

    chat.line("are you there?")
    at = chat.expect("Back after the interrupt.", after=at)
    chat.line("/exit")
    assert chat.close() == 0


WRITE_NOTES = [
    {
        "text": "Writing notes.",
        "tool_uses": [{"name": "Write", "input": {"file_path": "{ws}/notes.txt", "content": "v1\n"}}],
    },
    {"text": "Notes written."},
]


@pytest.mark.parametrize("world", [WRITE_NOTES], indirect=True)
def test_rewind_restores_code_and_asks_about_files_changed_outside(world: World) -> None:
    chat = world.chat()
    at = chat.expect("/help lists the commands")
    chat.line("write the notes")
    at = chat.expect("Notes written.", after=at)
    at = chat.expect("turn 1 done", after=at)
    notes = world.ws / "notes.txt"
    assert notes.read_text() == "v1\n"
    notes.write_text("edited by hand\n")  # a change Dexa never saw

    sid = world.sessions()[0]["id"]
    points = world.api("GET", f"/sessions/{sid}/checkpoints")["data"]
    first = min(points, key=lambda p: p["seq"])["id"]  # taken at the prompt, before the Write
    chat.line("/rewind")
    at = chat.expect("Rewind to which checkpoint?", after=at)
    assert first in chat.text
    chat.line(first)
    at = chat.expect("Restore [b]oth", after=at)
    chat.line("c")
    at = chat.expect("Files changed outside Dexa", after=at)
    chat.line("k")
    at = chat.expect(f"undo with: dexa rewind {sid} --to", after=at)
    assert "kept a copy of notes.txt" in chat.text
    assert not notes.exists(), chat.text[-2500:]
    copies = [p for p in world.ws.rglob("notes.txt*") if p.is_file()]
    assert [p.read_text() for p in copies] == ["edited by hand\n"]
    chat.line("/exit")
    assert chat.close() == 0


def test_every_builtin_the_engine_routes_has_a_repl_command() -> None:
    from dexa.cli.slash import BUILTINS, HANDLERS
    from dexa.commands import BUILTIN_COMMANDS

    assert set(BUILTIN_COMMANDS) <= set(HANDLERS) and set(BUILTINS) <= set(HANDLERS)


ASK_BASH = [
    {"text": "Running it.", "tool_uses": [{"name": "Bash", "input": {"command": "echo approved-$((40 + 2))"}}]},
    {"text": "Ran it."},
]


@pytest.mark.parametrize("world", [ASK_BASH], indirect=True)
def test_an_approval_is_answered_at_the_prompt_while_the_turn_waits(world: World) -> None:
    chat = world.chat()
    at = chat.expect("/help lists the commands")
    chat.line("run the command")
    at = chat.expect("Allow Bash(echo approved-$((40 + 2)))? [o]nce / [a]lways / [d]eny:", after=at)
    chat.line("o")
    at = chat.expect("approved-42", after=at)
    at = chat.expect("Ran it.", after=at)
    chat.line("/exit")
    assert chat.close() == 0


@pytest.mark.parametrize("world", [CONVERSATION], indirect=True)
def test_a_server_that_goes_away_is_an_error_line_and_the_repl_stays(world: World) -> None:
    chat = world.chat()
    at = chat.expect("/help lists the commands")
    world.serve.send_signal(signal.SIGINT)
    world.serve.wait(timeout=20)
    chat.line("hello")
    at = chat.expect(f"error: no Dexa server at {world.server}", after=at)
    chat.line("/exit")
    assert chat.close() == 0
