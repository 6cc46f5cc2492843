"""The terminal clients against real servers: `dexa serve` + `dexa run --server`, attach, continue, chat."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from live_server import build_app, live_server
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from rich.console import Console

from dexa.client import DexaClient
from dexa.client.repl import ChatRepl
from dexa.testing.fakes import RulePolicy
from dexa.testing.scripted import FunctionModel, text, tool_use

DEXA = [str(Path(sys.executable).parent / "dexa")]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str], Path]]:
    home = tmp_path_factory.mktemp("serve-home")
    env = {
        **os.environ,
        "DEXA_HOME": str(home),
        "DEXA_BENCH_FAKE_ENV": "1",
        "DEXA_BENCH_TOOL_CALLS": "2",
        "DEXA_BENCH_MODEL_DELAY_MS": "0",
    }
    # `dexa serve` lets the local org work in the directory it was started in, which holds the bench workspace.
    proc = subprocess.Popen(
        [*DEXA, "serve", "--port", "0"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=home
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # blocks until the server announces itself (or exits)
    assert "listening on" in line, f"serve did not start: {line!r} {proc.stderr.read() if proc.poll() else ''}"
    url = line.split("listening on ")[1].split()[0]
    try:
        yield url, env, home / "bench" / "workspace"
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0


def _dexa(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DEXA, *args], env=env, input=stdin, capture_output=True, text=True, timeout=60)


def test_run_print_on_a_server_speaks_claude_codes_stream_json(served: Any) -> None:
    url, env, ws = served
    proc = _dexa(
        env,
        "run",
        "-p",
        "count to two",
        "--server",
        url,
        "--cwd",
        str(ws),
        "--output-format",
        "stream-json",
        "--verbose",
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    assert lines[0]["type"] == "system" and lines[0]["subtype"] == "init" and lines[0]["tools"] == ["Append"]
    assert [x["type"] for x in lines[1:-1]] == ["assistant", "user", "assistant", "user", "assistant"]
    assert lines[-1]["type"] == "result" and lines[-1]["subtype"] == "success"
    assert lines[-1]["result"] == "done after 2 tool calls" and lines[-1]["session_id"] == lines[0]["session_id"]

    as_json = _dexa(env, "run", "-p", "again", "--server", url, "--cwd", str(ws), "--output-format", "json")
    result = json.loads(as_json.stdout)
    assert result["type"] == "result" and result["is_error"] is False and result["num_turns"] == 3


def test_stream_json_input_drives_several_turns_on_one_remote_session(served: Any) -> None:
    url, env, ws = served
    msgs = "".join(
        json.dumps({"type": "user", "message": {"role": "user", "content": [{"type": "text", "text": t}]}}) + "\n"
        for t in ("first", "second")
    )
    proc = _dexa(
        env,
        "run",
        "--server",
        url,
        "--cwd",
        str(ws),
        "--input-format",
        "stream-json",
        "--output-format",
        "stream-json",
        "--verbose",
        stdin=msgs,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    assert [x["type"] for x in lines].count("result") == 1 and lines[-1]["subtype"] == "success"

    async def turns() -> int:
        async with DexaClient(url, (Path(env["DEXA_HOME"]) / "token").read_text().strip()) as c:
            return (await c.get_session(lines[0]["session_id"])).turns_completed

    assert asyncio.run(turns()) == 2


def test_attach_and_continue_replay_a_finished_session(served: Any) -> None:
    url, env, ws = served
    first = json.loads(
        _dexa(env, "run", "-p", "attach me", "--server", url, "--cwd", str(ws), "--output-format", "json").stdout
    )
    attached = _dexa(env, "attach", first["session_id"], "--server", url, "--exit-when-idle")
    assert attached.returncode == 0, attached.stderr
    assert "› attach me" in attached.stdout and "⏺ Append(" in attached.stdout
    assert "done after 2 tool calls" in attached.stdout
    cont = _dexa({**env, "DEXA_SERVER": url}, "continue", "--exit-when-idle")
    assert cont.returncode == 0 and "› attach me" in cont.stdout
    missing = _dexa(env, "attach", "ses_nope", "--server", url, "--exit-when-idle")
    assert missing.returncode == 2 and "not found" in missing.stderr
    # chat's --resume / -r (Claude Code's spelling) names the session to continue, as --session does.
    for flag in ("--resume", "-r"):
        resumed = _dexa(env, "chat", flag, "ses_nope", "--server", url)
        assert resumed.returncode == 2 and "ses_nope not found" in resumed.stderr, resumed.stderr


def test_run_print_against_no_server_fails_with_a_clear_message(tmp_path: Path) -> None:
    proc = _dexa({**os.environ, "DEXA_HOME": str(tmp_path)}, "run", "-p", "hi", "--server", "http://127.0.0.1:9")
    assert proc.returncode == 2 and "no Dexa server at http://127.0.0.1:9" in proc.stderr


def _ask_then_done(request: Any) -> Any:
    if request.messages[-1].tool_results:
        return text("all done")
    return tool_use("Append", {"path": "chat.txt", "line": "hi"})


def test_chat_streams_the_turn_answers_approvals_inline_and_cycles_modes(tmp_path: Path) -> None:
    app, _, tokens = build_app(tmp_path, model=FunctionModel(_ask_then_done), policy=RulePolicy(ask={"Append"}))
    out = io.StringIO()

    async def main(base: str) -> tuple[int, str]:
        async with DexaClient(base, tokens["member"]) as client:
            sid = (await client.create_session()).id
            with create_pipe_input() as pipe:
                repl = ChatRepl(
                    client,
                    sid,
                    console=Console(file=out, width=120, force_terminal=False),
                    input=pipe,
                    output=DummyOutput(),
                )
                runner = asyncio.create_task(repl.run())
                pipe.send_text("please append\r")
                await _until(lambda: "Permission needed" in out.getvalue())
                pipe.send_text("a\r")
                await _until(lambda: "turn 1 done" in out.getvalue())
                pipe.send_text("\x1b[Z")  # Shift+Tab
                await _until(lambda: repl.mode == "acceptEdits")
                pipe.send_text("\x1b[Z")
                await _until(lambda: repl.mode == "plan")
                pipe.send_text("/exit\r")
                code = await asyncio.wait_for(runner, 10)
            return code, (await client.get_session(sid)).permission_mode

    with live_server(app) as base:
        code, mode = asyncio.run(main(base))
    text_ = out.getvalue()
    assert code == 0 and mode == "plan"
    assert "⏺ Append(chat.txt)" in text_ and "allowed (always, this session) by usr_member" in text_
    assert "all done" in text_ and (tmp_path / "ws" / "chat.txt").read_text() == "hi\n"


async def _until(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
