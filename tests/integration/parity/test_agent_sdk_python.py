"""The official Python Claude Agent SDK (`claude-agent-sdk`, a client no one here wrote) drives `dexa` as its CLI.

`cli_path` is a two-line wrapper running `python -m dexa.cli`; the model is the loopback Messages API. Each example
must finish well inside its deadline: an SDK that waits for a `result` or a control answer Dexa never sends hangs,
and the deadline turns that hang into a failure.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from dexa.testing.messages_api import FakeMessagesServer, serve
from dexa.testing.script import Script

sdk = pytest.importorskip(
    "claude_agent_sdk",
    reason="claude-agent-sdk not installed (pin claude-agent-sdk==0.2.184 in the test dependencies)",
)

DEADLINE_S = 60


def _wrapper(tmp_path: Path) -> Path:
    path = tmp_path / "dexa-cli"
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m dexa.cli "$@"\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[dict[str, Any]]:
    ws = tmp_path / "ws"
    ws.mkdir()
    yield {"tmp": tmp_path, "ws": ws, "cli": _wrapper(tmp_path)}


def _options(rig: dict[str, Any], server: FakeMessagesServer, **kw: Any) -> Any:
    env = {
        "ANTHROPIC_BASE_URL": server.url,
        "ANTHROPIC_API_KEY": "sk-test",
        "DEXA_HOME": str(rig["tmp"] / "home"),
        "HOME": str(rig["tmp"] / "userhome"),
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    return sdk.ClaudeAgentOptions(cli_path=str(rig["cli"]), cwd=str(rig["ws"]), env=env, **kw)


async def _collect(messages: AsyncIterator[Any]) -> list[Any]:
    out: list[Any] = []
    with anyio.fail_after(DEADLINE_S):
        async for m in messages:
            out.append(m)
    return out


def _results(messages: list[Any]) -> list[Any]:
    return [m for m in messages if isinstance(m, sdk.ResultMessage)]


def _tool_results(messages: list[Any]) -> list[Any]:
    return [
        b
        for m in messages
        if isinstance(m, sdk.UserMessage) and isinstance(m.content, list)
        for b in m.content
        if isinstance(b, sdk.ToolResultBlock)
    ]


def _prompts(server: FakeMessagesServer) -> list[str]:
    """Every user text the model was sent: a control request must never be among them."""
    texts: list[str] = []
    for req in server.message_requests():
        for msg in req["messages"]:
            content = msg["content"]
            if isinstance(content, str):
                texts.append(content)
            else:
                texts.extend(b.get("text", "") for b in content if b.get("type") == "text")
    return texts


def test_one_line_query_finishes_with_claude_codes_result_shape(rig: dict[str, Any]) -> None:
    with serve(Script.from_dict({"turns": [{"text": "four"}]})) as server:

        async def main() -> list[Any]:
            return await _collect(sdk.query(prompt="What is 2 + 2?", options=_options(rig, server)))

        messages = anyio.run(main)
        prompts = _prompts(server)
    (result,) = _results(messages)
    assert result.subtype == "success" and not result.is_error and result.result == "four"
    assert result.num_turns == 1 and result.total_cost_usd > 0
    (model_id,) = result.model_usage  # keyed by the id the API answered with, not the alias
    assert model_id.startswith("claude-") and model_id != "sonnet"
    usage = result.model_usage[model_id]
    assert usage["costUSD"] == pytest.approx(result.total_cost_usd)
    assert {"inputTokens", "outputTokens", "cacheReadInputTokens", "cacheCreationInputTokens"} <= set(usage)
    assert result.duration_api_ms > 0
    assert any("2 + 2" in p for p in prompts)
    assert not any("control_request" in p or "initialize" in p for p in prompts)
    init = next(m for m in messages if isinstance(m, sdk.SystemMessage) and m.subtype == "init")
    assert init.data["cwd"] == str(rig["ws"])


def test_multi_turn_client_gets_a_result_per_turn_in_one_process(rig: dict[str, Any]) -> None:
    script = {"turns": [{"text": "first answer"}, {"text": "second answer, remembering the first"}]}
    with serve(Script.from_dict(script)) as server:

        async def main() -> tuple[list[Any], list[Any]]:
            async with sdk.ClaudeSDKClient(_options(rig, server)) as client:
                await client.query("first question")
                one = await _collect(client.receive_response())
                await client.query("second question")
                two = await _collect(client.receive_response())
            return one, two

        one, two = anyio.run(main)
        last = server.message_requests()[-1]["messages"]
    assert [r.result for r in _results(one)] == ["first answer"]
    assert [r.result for r in _results(two)] == ["second answer, remembering the first"]
    assert _results(one)[0].session_id == _results(two)[0].session_id
    # The second request carries the whole conversation: one session, not two.
    assert [m["role"] for m in last] == ["user", "assistant", "user"]


def test_can_use_tool_allows_one_call_and_denies_another(rig: dict[str, Any]) -> None:
    script = {
        "turns": [
            {"tool_uses": [{"name": "Bash", "input": {"command": "touch made.txt"}}]},
            {"tool_uses": [{"name": "Bash", "input": {"command": "rm -f made.txt"}}]},
            {"text": "done"},
        ]
    }
    asked: list[tuple[str, dict[str, Any]]] = []

    async def can_use_tool(name: str, tool_input: dict[str, Any], ctx: Any) -> Any:
        asked.append((name, tool_input))
        if tool_input.get("command", "").startswith("rm"):
            return sdk.PermissionResultDeny(message="no deleting")
        return sdk.PermissionResultAllow()

    with serve(Script.from_dict(script)) as server:

        async def main() -> list[Any]:
            async with sdk.ClaudeSDKClient(_options(rig, server, can_use_tool=can_use_tool)) as client:
                await client.query("make a file, then try to delete it")
                return await _collect(client.receive_response())

        messages = anyio.run(main)
    assert [a[1]["command"] for a in asked] == ["touch made.txt", "rm -f made.txt"]
    assert (rig["ws"] / "made.txt").exists()  # allowed, run; the denied rm never ran
    first, second = _tool_results(messages)
    assert not first.is_error
    assert second.is_error and "no deleting" in str(second.content)
    assert _results(messages)[0].result == "done"


def test_a_pre_tool_use_hook_callback_sees_the_call_and_can_deny_it(rig: dict[str, Any]) -> None:
    script = {"turns": [{"tool_uses": [{"name": "Bash", "input": {"command": "echo hooked"}}]}, {"text": "ok"}]}
    seen: list[dict[str, Any]] = []

    async def guard(hook_input: Any, tool_use_id: str | None, ctx: Any) -> Any:
        seen.append(dict(hook_input))
        return {
            "hookSpecificOutput": {
                "hookEventName": "PreToolUse",
                "permissionDecision": "deny",
                "permissionDecisionReason": "echo is off limits today",
            }
        }

    hooks = {"PreToolUse": [sdk.HookMatcher(matcher="Bash", hooks=[guard])]}
    with serve(Script.from_dict(script)) as server:

        async def main() -> list[Any]:
            async with sdk.ClaudeSDKClient(_options(rig, server, hooks=hooks)) as client:
                await client.query("echo something")
                return await _collect(client.receive_response())

        messages = anyio.run(main)
    assert [(s["hook_event_name"], s["tool_name"], s["tool_input"]) for s in seen] == [
        ("PreToolUse", "Bash", {"command": "echo hooked"})
    ]
    (denied,) = _tool_results(messages)
    assert denied.is_error and "echo is off limits today" in str(denied.content)
    assert _results(messages)[0].subtype == "success"


def test_interrupt_ends_the_turn_and_the_session_takes_the_next_prompt(rig: dict[str, Any]) -> None:
    # Turn selection counts assistant messages: the interrupted turn leaves none, so the next prompt gets turn 0's
    # slow text again unless it is a different turn; the marker turn proves the session moved on.
    script = {"turns": [{"text": "slow " * 40, "delay_ms": 1500}, {"text": "after the interrupt"}]}
    with serve(Script.from_dict(script)) as server:

        async def main() -> tuple[list[Any], float]:
            async with sdk.ClaudeSDKClient(_options(rig, server, include_partial_messages=True)) as client:
                await client.query("take your time")
                messages: list[Any] = []
                with anyio.fail_after(DEADLINE_S):
                    async for m in client.receive_messages():
                        messages.append(m)
                        if isinstance(m, sdk.StreamEvent):
                            break  # the answer is streaming: interrupt it mid-way
                    started = anyio.current_time()
                    await client.interrupt()
                    messages += await _collect(client.receive_response())
                    took = anyio.current_time() - started
            return messages, took

        messages, took = anyio.run(main)
    (result,) = _results(messages)
    assert result.is_error and result.subtype == "error_during_execution"
    assert took < 5, f"the interrupt took {took:.1f} s"
    deltas = [m for m in messages if isinstance(m, sdk.StreamEvent)]
    assert deltas[0].event["delta"]["type"] == "text_delta"


def test_set_permission_mode_then_a_write_is_allowed_without_asking(rig: dict[str, Any]) -> None:
    script = {
        "turns": [
            {"tool_uses": [{"name": "Write", "input": {"file_path": "PLACEHOLDER", "content": "hi\n"}}]},
            {"text": "written"},
        ]
    }
    script["turns"][0]["tool_uses"][0]["input"]["file_path"] = str(rig["ws"] / "note.txt")
    with serve(Script.from_dict(script)) as server:

        async def main() -> list[Any]:
            async with sdk.ClaudeSDKClient(_options(rig, server)) as client:
                await client.set_permission_mode("acceptEdits")
                await client.query("write a note")
                return await _collect(client.receive_response())

        messages = anyio.run(main)
    assert (rig["ws"] / "note.txt").read_text() == "hi\n"
    assert _results(messages)[0].permission_denials == []


def test_the_cli_saw_what_the_sdk_sends(rig: dict[str, Any], tmp_path: Path) -> None:
    """Pin the observed argv: a bare invocation (no subcommand, no -p) with stream-json both ways."""
    log = tmp_path / "argv.json"
    rig["cli"].write_text(
        f'#!/bin/sh\n"{sys.executable}" -c \'import json,sys; json.dump(sys.argv[1:], open("{log}","w"))\' "$@"\n'
        f'exec "{sys.executable}" -m dexa.cli "$@"\n'
    )
    with serve(Script.from_dict({"turns": [{"text": "ok"}]})) as server:

        async def main() -> list[Any]:
            return await _collect(sdk.query(prompt="hi", options=_options(rig, server, max_turns=3)))

        messages = anyio.run(main)
    argv = json.loads(log.read_text())
    assert argv[0].startswith("--") and "-p" not in argv
    assert argv[argv.index("--input-format") + 1] == "stream-json"
    assert argv[argv.index("--max-turns") + 1] == "3"
    assert _results(messages)[0].result == "ok"
