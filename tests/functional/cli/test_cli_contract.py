"""`dexa` keeps Claude Code's command-line contract: top-level -p and positional prompts, --version, errors as JSON
results before a session exists, flag checks with Claude Code's messages, inline JSON flags, clean Ctrl-C and a
one-line busy-port error. Every test runs the real `dexa` process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from dexa import __version__
from dexa.testing.messages_api import FakeMessagesServer, serve
from dexa.testing.script import Script


def _env(tmp_path: Path, server: FakeMessagesServer | None = None, **extra: str) -> dict[str, str]:
    env = {**os.environ, "DEXA_HOME": str(tmp_path / "home"), **extra}
    env.pop("ANTHROPIC_API_KEY", None)
    if server is not None:
        env.update(ANTHROPIC_BASE_URL=server.url, ANTHROPIC_API_KEY="sk-test")
    return env


def _dexa(
    tmp_path: Path, *args: str, server: FakeMessagesServer | None = None, stdin: str = "", **extra: str
) -> subprocess.CompletedProcess[str]:
    ws = tmp_path / "ws"
    ws.mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "dexa.cli", *args],
        cwd=ws,
        env=_env(tmp_path, server, **extra),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=90,
    )


def _first_prompt(server: FakeMessagesServer) -> Any:
    return server.message_requests()[0]["messages"][0]["content"]


def _text(content: Any) -> str:
    return content if isinstance(content, str) else "".join(b.get("text", "") for b in content)


def test_version(tmp_path: Path) -> None:
    done = _dexa(tmp_path, "--version")
    assert done.returncode == 0 and done.stdout.strip() == f"{__version__} (Dexa)"


def test_top_level_print_flag_and_positional_prompt(tmp_path: Path) -> None:
    with serve(Script.from_dict({"turns": [{"text": "pong"}]})) as server:
        done = _dexa(tmp_path, "-p", "--verbose", "--output-format", "json", "ping please", server=server)
        prompt = _text(_first_prompt(server))
    assert done.returncode == 0, done.stderr[-2000:]
    messages = json.loads(done.stdout)  # --verbose json: an array of every message, the result last
    assert messages[0]["subtype"] == "init" and messages[-1]["result"] == "pong"
    assert prompt == "ping please"


def test_run_print_verbose_no_longer_sends_the_flag_as_the_prompt(tmp_path: Path) -> None:
    with serve(Script.from_dict({"turns": [{"text": "ok"}]})) as server:
        done = _dexa(
            tmp_path, "run", "-p", "--verbose", "--output-format", "stream-json", "the real prompt", server=server
        )
        prompt = _text(_first_prompt(server))
    assert done.returncode == 0, done.stderr[-2000:]
    assert prompt == "the real prompt"
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines[0]["subtype"] == "init" and lines[-1]["type"] == "result"


def test_result_reports_model_usage_by_model_id_and_real_api_time(tmp_path: Path) -> None:
    script = {"turns": [{"text": "measured", "delay_ms": 30}]}
    with serve(Script.from_dict(script)) as server:
        done = _dexa(tmp_path, "-p", "hi", "--output-format", "json", "--model", "sonnet", server=server)
    result = json.loads(done.stdout)
    ((model_id, usage),) = result["modelUsage"].items()
    assert model_id.startswith("claude-sonnet") and model_id != "sonnet"
    assert usage["costUSD"] == pytest.approx(result["total_cost_usd"]) and usage["costUSD"] > 0
    assert usage["inputTokens"] == result["usage"]["input_tokens"]
    assert usage["outputTokens"] == result["usage"]["output_tokens"]
    assert usage["contextWindow"] > 0 and usage["maxOutputTokens"] > 0
    assert result["duration_api_ms"] >= 30
    assert result["duration_ms"] >= result["duration_api_ms"]


@pytest.mark.parametrize("fmt", ["json", "stream-json"])
def test_errors_before_a_session_are_json_results(tmp_path: Path, fmt: str) -> None:
    extra = ["--verbose"] if fmt == "stream-json" else []
    no_key = _dexa(tmp_path, "-p", "hi", "--output-format", fmt, *extra)
    unknown = _dexa(
        tmp_path,
        "-p",
        "hi",
        "--output-format",
        fmt,
        *extra,
        "--resume",
        "00000000-0000-4000-8000-000000000000",
        ANTHROPIC_API_KEY="sk-test",
    )
    for done, needle in ((no_key, "ANTHROPIC_API_KEY"), (unknown, "No conversation found with session ID")):
        assert done.returncode == 1
        (result,) = [json.loads(line) for line in done.stdout.splitlines()]
        assert result["type"] == "result" and result["is_error"] is True
        assert needle in result["errors"][0]
        assert needle in done.stderr and "Traceback" not in done.stderr


def test_flag_checks_use_claude_codes_messages(tmp_path: Path) -> None:
    bad_id = _dexa(tmp_path, "-p", "hi", "--session-id", "not-a-uuid")
    assert bad_id.returncode == 1 and "Invalid session ID. Must be a valid UUID." in bad_id.stderr
    bad_mcp = _dexa(tmp_path, "-p", "hi", "--mcp-config", "{not json")
    assert bad_mcp.returncode == 1 and "Invalid MCP configuration" in bad_mcp.stderr
    missing = _dexa(tmp_path, "-p", "hi", "--mcp-config", str(tmp_path / "nope.json"))
    assert missing.returncode == 1 and "Invalid MCP configuration" in missing.stderr
    mixed = _dexa(tmp_path, "-p", "hi", "--input-format", "stream-json")
    assert mixed.returncode == 1 and "requires output-format=stream-json" in mixed.stderr


def test_inline_json_settings_apply(tmp_path: Path) -> None:
    script = {"turns": [{"tool_uses": [{"name": "Bash", "input": {"command": "touch inline.txt"}}]}, {"text": "ok"}]}
    settings = json.dumps({"permissions": {"allow": ["Bash(touch *)"]}})
    with serve(Script.from_dict(script)) as server:
        done = _dexa(tmp_path, "-p", "make it", "--output-format", "json", "--settings", settings, server=server)
    result = json.loads(done.stdout)
    assert result["permission_denials"] == [], result
    assert (tmp_path / "ws" / "inline.txt").exists()


def test_session_id_then_resume_and_fork(tmp_path: Path) -> None:
    sid = "4a8b9c2d-1e2f-4a3b-8c4d-5e6f7a8b9c0d"
    script = {"turns": [{"text": "first"}, {"text": "second"}, {"text": "third"}]}
    with serve(Script.from_dict(script)) as server:
        one = json.loads(
            _dexa(tmp_path, "-p", "a", "--session-id", sid, "--output-format", "json", server=server).stdout
        )
        again = _dexa(tmp_path, "-p", "b", "--session-id", sid, "--output-format", "json", server=server)
        two = json.loads(_dexa(tmp_path, "-p", "b", "--resume", sid, "--output-format", "json", server=server).stdout)
        fork = json.loads(
            _dexa(
                tmp_path, "-p", "c", "--resume", sid, "--fork-session", "--output-format", "json", server=server
            ).stdout
        )
    assert one["session_id"] == sid and one["result"] == "first"
    assert again.returncode == 1 and "already in use" in again.stderr
    assert two["session_id"] == sid and two["result"] == "second"
    # The fork carries the conversation (so the model sees two earlier answers) under a new id.
    assert fork["session_id"] != sid and fork["result"] == "third"


def test_ctrl_c_interrupts_the_turn_cleanly_and_the_session_resumes(tmp_path: Path) -> None:
    script = {"turns": [{"text": "slow " * 30, "delay_ms": 700}]}
    ws = tmp_path / "ws"
    ws.mkdir()
    with serve(Script.from_dict(script)) as server:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dexa.cli", "-p", "go", "--output-format", "json"],
            cwd=ws,
            env=_env(tmp_path, server),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while not server.message_requests() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # mid-stream
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        result = json.loads(out)
        resumed = json.loads(
            _dexa(
                tmp_path, "-p", "again", "--resume", result["session_id"], "--output-format", "json", server=server
            ).stdout
        )
        history = server.message_requests()[-1]["messages"]
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert proc.returncode == 1 and result["is_error"] and result["subtype"] == "error_during_execution"
    # The interrupted turn kept no half answer (the scripted model therefore plays its first turn again), and the
    # resumed session carries both prompts.
    assert not resumed["is_error"] and resumed["session_id"] == result["session_id"]
    assert [(m["role"], _text(m["content"])) for m in history] == [("user", "go"), ("user", "again")]


def test_busy_port_for_serve_is_one_line_with_a_fix(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = _dexa(tmp_path, "serve", "--port", str(port))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"dexa serve: port {port} on 127.0.0.1 is already in use (another dexa serve?); stop it, or pick another "
        "port: dexa serve --port 0"
    ]


def test_fallback_model_takes_over_when_the_model_stays_overloaded(tmp_path: Path) -> None:
    script = {"turns": [{"text": "from the fallback", "error": {"status": 529, "times": 5, "retry_after": 0}}]}
    with serve(Script.from_dict(script)) as server:
        done = _dexa(
            tmp_path,
            "-p",
            "hi",
            "--output-format",
            "json",
            "--model",
            "claude-sonnet-5",
            "--fallback-model",
            "claude-haiku-4-5",
            server=server,
        )
        models = [body["model"] for body in server.message_requests()]
    result = json.loads(done.stdout)
    assert done.returncode == 0 and result["result"] == "from the fallback", done.stderr[-2000:]
    assert models == ["claude-sonnet-5"] * 5 + ["claude-haiku-4-5"]
    assert list(result["modelUsage"]) == ["claude-haiku-4-5"]
    assert "falling back to claude-haiku-4-5" in done.stderr


def test_setting_sources_limits_the_settings_files_read(tmp_path: Path) -> None:
    user_home = tmp_path / "userhome"
    (user_home / ".claude").mkdir(parents=True)
    (user_home / ".claude" / "settings.json").write_text(json.dumps({"permissions": {"allow": ["Bash(touch *)"]}}))
    script = {"turns": [{"tool_uses": [{"name": "Bash", "input": {"command": "touch x.txt"}}]}, {"text": "ok"}]}
    outcomes = {}
    for sources in ("user", "project"):
        with serve(Script.from_dict(script)) as server:
            done = _dexa(
                tmp_path,
                "-p",
                "go",
                "--output-format",
                "json",
                "--setting-sources",
                sources,
                server=server,
                HOME=str(user_home),
            )
        outcomes[sources] = [d["tool_input"]["command"] for d in json.loads(done.stdout)["permission_denials"]]
    assert outcomes == {"user": [], "project": ["touch x.txt"]}
    bad = _dexa(tmp_path, "-p", "go", "--setting-sources", "team")
    assert bad.returncode == 1 and "Invalid setting source: team" in bad.stderr
