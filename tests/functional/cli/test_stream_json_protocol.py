"""The stream-json control protocol over a real `dexa` process, line by line, as an Agent SDK speaks it.

Shapes observed from Claude Code 2.1.331 driven by claude-agent-sdk 0.2.184 (shared/reference/agent-sdk.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from dexa.testing.messages_api import FakeMessagesServer, serve
from dexa.testing.script import Script

BASE = ["--output-format", "stream-json", "--verbose", "--input-format", "stream-json"]


def _user(text: str, **extra: Any) -> str:
    return json.dumps(
        {
            "type": "user",
            "message": {"role": "user", "content": text},
            "parent_tool_use_id": None,
            "session_id": "default",
            **extra,
        }
    )


def _control(request_id: str, **request: Any) -> str:
    return json.dumps({"type": "control_request", "request_id": request_id, "request": request})


def _run(
    tmp_path: Path, server: FakeMessagesServer, lines: list[str], *flags: str, env: dict[str, str] | None = None
) -> tuple[list[dict[str, Any]], subprocess.CompletedProcess[str]]:
    ws = tmp_path / "ws"
    ws.mkdir(exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "dexa.cli", *BASE, *flags],
        input="".join(line + "\n" for line in lines),
        cwd=ws,
        env={
            **os.environ,
            "DEXA_HOME": str(tmp_path / "home"),
            "ANTHROPIC_BASE_URL": server.url,
            "ANTHROPIC_API_KEY": "sk-test",
            **(env or {}),
        },
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines()], done


def _user_texts(server: FakeMessagesServer) -> list[str]:
    out: list[str] = []
    for body in server.message_requests():
        for m in body["messages"]:
            if m["role"] != "user":
                continue
            c = m["content"]
            out.extend([c] if isinstance(c, str) else [b.get("text", "") for b in c if b.get("type") == "text"])
    return out


def test_initialize_is_answered_first_and_each_user_line_gets_its_own_result(tmp_path: Path) -> None:
    script = {"turns": [{"text": "one"}, {"text": "two"}]}
    with serve(Script.from_dict(script)) as server:
        out, done = _run(
            tmp_path, server, [_control("req_1", subtype="initialize", hooks=None), _user("first"), _user("second")]
        )
        sent = _user_texts(server)
    assert done.returncode == 0, done.stderr[-2000:]
    assert out[0]["type"] == "control_response"
    assert out[0]["response"]["request_id"] == "req_1" and out[0]["response"]["subtype"] == "success"
    assert out[0]["response"]["response"]["claude_code_version"].count(".") == 2
    results = [m for m in out if m["type"] == "result"]
    assert [r["result"] for r in results] == ["one", "two"]
    assert [r["num_turns"] for r in results] == [1, 1]
    # An init per turn, each before its turn's messages, as Claude Code prints them.
    kinds = [m["type"] + ("/" + m["subtype"] if m["type"] == "system" else "") for m in out[1:]]
    assert kinds == ["system/init", "assistant", "result", "system/init", "assistant", "result"]
    assert sent == ["first", "first", "second"]  # the initialize request never reached the model


def test_session_state_frames_bracket_each_turn_when_the_sdk_asks(tmp_path: Path) -> None:
    with serve(Script.from_dict({"turns": [{"text": "hi"}]})) as server:
        out, _ = _run(tmp_path, server, [_user("hello")], env={"CLAUDE_CODE_SDK_READS_SESSION_STATE": "1"})
    states = [m.get("state") for m in out if m.get("subtype") == "session_state_changed"]
    assert states == ["running", "idle"]
    assert [m["type"] for m in out][-2:] == ["result", "system"]  # idle comes after the result


def test_unknown_control_request_gets_an_error_response_not_silence(tmp_path: Path) -> None:
    with serve(Script.from_dict({"turns": [{"text": "hi"}]})) as server:
        out, done = _run(
            tmp_path, server, [_control("req_9", subtype="rewind_files", user_message_id="x"), _user("hello")]
        )
    (resp,) = [m for m in out if m["type"] == "control_response"]
    assert resp["response"]["subtype"] == "error" and resp["response"]["request_id"] == "req_9"
    assert "rewind_files" in resp["response"]["error"]
    assert done.returncode == 0


def test_set_model_and_set_permission_mode_apply_to_the_next_turn(tmp_path: Path) -> None:
    with serve(Script.from_dict({"turns": [{"text": "a"}, {"text": "b"}]})) as server:
        out, _ = _run(
            tmp_path,
            server,
            [
                _user("first"),
                _control("req_2", subtype="set_model", model="claude-opus-5"),
                _control("req_3", subtype="set_permission_mode", mode="acceptEdits"),
                _control("req_4", subtype="set_permission_mode", mode="sideways"),
                _user("second"),
            ],
        )
        models = [body["model"] for body in server.message_requests()]
    answers = {m["response"]["request_id"]: m["response"] for m in out if m["type"] == "control_response"}
    assert answers["req_2"]["subtype"] == "success" and answers["req_3"]["subtype"] == "success"
    assert answers["req_4"]["subtype"] == "error" and "sideways" in answers["req_4"]["error"]
    inits = [m for m in out if m.get("subtype") == "init"]
    assert inits[-1]["permissionMode"] == "acceptEdits"
    assert models[-1] == "claude-opus-5"  # the default (sonnet) until set_model; control lines apply at once


def test_replayed_user_messages_and_partial_deltas(tmp_path: Path) -> None:
    with serve(Script.from_dict({"turns": [{"text": "streamed answer"}]})) as server:
        out, _ = _run(
            tmp_path, server, [_user("echo me", uuid="u-1")], "--replay-user-messages", "--include-partial-messages"
        )
    replay = out[0]
    assert replay["type"] == "user" and replay["message"]["content"] == "echo me" and replay["uuid"] == "u-1"
    deltas = [m for m in out if m["type"] == "stream_event"]
    assert deltas and all(d["event"]["type"] == "content_block_delta" for d in deltas)
    assert "".join(d["event"]["delta"]["text"] for d in deltas) == "streamed answer"
    assert out.index(deltas[-1]) < next(i for i, m in enumerate(out) if m["type"] == "assistant")


def test_can_use_tool_round_trip_over_raw_stdio(tmp_path: Path) -> None:
    """A permission prompt goes out as a control_request; the answer on stdin lets the call run."""
    ws = tmp_path / "ws"
    ws.mkdir()
    script = {"turns": [{"tool_uses": [{"name": "Bash", "input": {"command": "touch granted.txt"}}]}, {"text": "ok"}]}
    with serve(Script.from_dict(script)) as server:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dexa.cli", *BASE, "--permission-prompt-tool", "stdio"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ws,
            env={
                **os.environ,
                "DEXA_HOME": str(tmp_path / "home"),
                "ANTHROPIC_BASE_URL": server.url,
                "ANTHROPIC_API_KEY": "sk-test",
            },
        )
        assert proc.stdin and proc.stdout
        proc.stdin.write(_user("make the file") + "\n")
        proc.stdin.flush()
        seen: list[dict[str, Any]] = []
        for line in proc.stdout:
            msg = json.loads(line)
            seen.append(msg)
            if msg["type"] == "control_request":
                req = msg["request"]
                assert req["subtype"] == "can_use_tool" and req["tool_name"] == "Bash"
                assert req["input"] == {"command": "touch granted.txt"}
                assert req["permission_suggestions"][0]["type"] == "addRules"
                answer = {"behavior": "allow", "updatedInput": req["input"]}
                proc.stdin.write(
                    json.dumps(
                        {
                            "type": "control_response",
                            "response": {"subtype": "success", "request_id": msg["request_id"], "response": answer},
                        }
                    )
                    + "\n"
                )
                proc.stdin.flush()
            if msg["type"] == "result":
                break
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
    assert (ws / "granted.txt").exists()
    assert seen[-1]["result"] == "ok" and seen[-1]["permission_denials"] == []
