"""`dexa acp` driven by the official ACP client (the `agent-client-protocol` package's client side), as Zed drives
an agent server: sessions, streamed chunks, tool calls with diffs, permission requests, modes, plan review,
TodoWrite as plan updates, slash commands, extended thinking, cancel."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from acp import RequestError, text_block
from acp.schema import (
    EmbeddedResourceContentBlock,
    EnvVariable,
    McpServerStdio,
    PermissionOption,
    ResourceContentBlock,
    TextResourceContents,
    ToolCallUpdate,
)
from acp_rig import Editor, agent_env, editor_with_dexa, run

from dexa.testing.messages_api import serve
from dexa.testing.procs import processes_marked
from dexa.testing.script import Script


def _ws(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "a.txt").write_text("hello world\n")
    return ws


def _edit_turns(ws: Path) -> list[dict[str, Any]]:
    path = str(ws / "a.txt")
    return [
        {"text": "Reading it first.", "tool_uses": [{"name": "Read", "input": {"file_path": path}}]},
        {"tool_uses": [{"name": "Edit", "input": {"file_path": path, "old_string": "hello", "new_string": "goodbye"}}]},
        {"text": "Changed hello to goodbye."},
    ]


def test_a_prompt_edits_a_file_after_the_editor_allows_it_once(tmp_path: Path) -> None:
    ws = _ws(tmp_path)
    editor = Editor()
    with serve(Script.from_dict({"turns": _edit_turns(ws)})) as model:

        async def main() -> Any:
            async with editor_with_dexa(tmp_path, agent_env(tmp_path, model.url), editor) as (conn, _):
                new = await conn.new_session(cwd=str(ws))
                assert new.modes.current_mode_id == "default"
                assert {m.id for m in new.modes.available_modes} == {"default", "acceptEdits", "plan"}
                assert [o.id for o in new.config_options or []] == ["thinking"]
                done = await conn.prompt(session_id=new.session_id, prompt=[text_block("say goodbye in a.txt")])
                return new, done

        _, done = run(main())
        sent = model.message_requests()
    assert done.stop_reason == "end_turn"
    assert (ws / "a.txt").read_text() == "goodbye world\n"
    # The editor was asked once, for the edit, with the diff to review and the engine's three answers.
    ((call, options),) = editor.asks
    assert call.kind == "edit" and call.title == f"Edit {ws / 'a.txt'}"
    (diff,) = call.content or []
    assert (diff.type, diff.path, diff.old_text, diff.new_text) == ("diff", str(ws / "a.txt"), "hello", "goodbye")
    assert [o.kind for o in options] == ["allow_once", "allow_always", "reject_once"]
    # Tool calls: pending with kind, title and location, then in progress, then completed.
    starts = editor.of("tool_call")
    assert [(s.kind, s.status) for s in starts] == [("read", "pending"), ("edit", "pending")]
    assert starts[0].locations[0].path == str(ws / "a.txt")
    statuses = [(u.tool_call_id, u.status) for u in editor.of("tool_call_update")]
    for start in starts:
        assert (start.tool_call_id, "in_progress") in statuses and (start.tool_call_id, "completed") in statuses
    assert editor.text() == "Reading it first.Changed hello to goodbye."
    assert "say goodbye in a.txt" in json.dumps(sent[0]["messages"])
    # Built-in and project commands were announced when the session opened.
    (commands,) = editor.of("available_commands_update")
    assert {"help", "compact", "plan"} <= {c.name for c in commands.available_commands}


def test_accept_edits_mode_edits_without_asking(tmp_path: Path) -> None:
    ws = _ws(tmp_path)
    editor = Editor()
    with serve(Script.from_dict({"turns": _edit_turns(ws)})) as model:

        async def main() -> Any:
            async with editor_with_dexa(tmp_path, agent_env(tmp_path, model.url), editor) as (conn, _):
                new = await conn.new_session(cwd=str(ws))
                await conn.set_session_mode(session_id=new.session_id, mode_id="acceptEdits")
                with pytest.raises(RequestError, match="Unknown mode 'yolo'"):
                    await conn.set_session_mode(session_id=new.session_id, mode_id="yolo")
                return await conn.prompt(session_id=new.session_id, prompt=[text_block("edit it")])

        done = run(main())
    assert done.stop_reason == "end_turn"
    assert (ws / "a.txt").read_text() == "goodbye world\n"
    assert editor.asks == []  # the same edit that asked in default mode


def test_a_rejected_edit_leaves_the_file_and_fails_the_tool_call(tmp_path: Path) -> None:
    ws = _ws(tmp_path)

    async def reject(call: ToolCallUpdate, options: list[PermissionOption]) -> str | None:
        return "reject_once"

    editor = Editor(reject)
    with serve(Script.from_dict({"turns": _edit_turns(ws)})) as model:

        async def main() -> Any:
            async with editor_with_dexa(tmp_path, agent_env(tmp_path, model.url), editor) as (conn, _):
                new = await conn.new_session(cwd=str(ws))
                return await conn.prompt(session_id=new.session_id, prompt=[text_block("edit it")])

        done = run(main())
    assert done.stop_reason == "end_turn"
    assert (ws / "a.txt").read_text() == "hello world\n"
    edit = editor.of("tool_call")[1]
    assert (edit.tool_call_id, "failed") in [(u.tool_call_id, u.status) for u in editor.of("tool_call_update")]


def test_a_plan_is_reviewed_then_executed_with_edits_accepted(tmp_path: Path) -> None:
    ws = _ws(tmp_path)
    path = str(ws / "a.txt")
    plan = "1. Replace hello with goodbye in a.txt"
    turns = [
        {"tool_uses": [{"name": "Read", "input": {"file_path": path}}]},
        {
            "tool_uses": [
                {
                    "name": "TodoWrite",
                    "input": {
                        "todos": [
                            {"content": "Edit a.txt", "status": "in_progress", "activeForm": "Editing a.txt"},
                            {"content": "Check it", "status": "pending", "activeForm": "Checking it"},
                        ]
                    },
                }
            ]
        },
        {"text": "Here is my plan.", "tool_uses": [{"name": "ExitPlanMode", "input": {"plan": plan}}]},
        {"tool_uses": [{"name": "Edit", "input": {"file_path": path, "old_string": "hello", "new_string": "goodbye"}}]},
        {"text": "Done as planned."},
    ]
    editor = Editor(_accept_plan)
    with serve(Script.from_dict({"turns": turns})) as model:

        async def main() -> Any:
            async with editor_with_dexa(tmp_path, agent_env(tmp_path, model.url), editor) as (conn, _):
                new = await conn.new_session(cwd=str(ws))
                await conn.set_session_mode(session_id=new.session_id, mode_id="plan")
                return await conn.prompt(session_id=new.session_id, prompt=[text_block("plan the change, then do it")])

        done = run(main())
    assert done.stop_reason == "end_turn"
    assert (ws / "a.txt").read_text() == "goodbye world\n"
    # One ask: the plan's review (its text shown), with Claude Code's three answers. The edit then needed none.
    ((call, options),) = editor.asks
    assert call.kind == "switch_mode" and call.content[0].content.text == plan
    assert [o.option_id for o in options] == ["plan_accept_edits", "plan_default", "reject_once"]
    assert [u.current_mode_id for u in editor.of("current_mode_update")] == ["acceptEdits"]
    (todos,) = editor.of("plan")
    assert [(e.content, e.status) for e in todos.entries] == [("Edit a.txt", "in_progress"), ("Check it", "pending")]


async def _accept_plan(call: ToolCallUpdate, options: list[PermissionOption]) -> str | None:
    return "plan_accept_edits" if call.kind == "switch_mode" else None


def test_cancel_mid_bash_ends_the_prompt_cancelled_and_leaves_no_process(tmp_path: Path) -> None:
    ws = _ws(tmp_path)
    marker = f"dexaacp{uuid.uuid4().hex[:10]}"
    turns = [
        {"tool_uses": [{"name": "Bash", "input": {"command": f"exec -a {marker} sleep 600"}}]},
        {"text": "never reached"},
    ]
    editor = Editor()
    with serve(Script.from_dict({"turns": turns})) as model:

        async def main() -> Any:
            import asyncio

            async with editor_with_dexa(tmp_path, agent_env(tmp_path, model.url), editor) as (conn, proc):
                new = await conn.new_session(cwd=str(ws))
                prompt = asyncio.create_task(conn.prompt(session_id=new.session_id, prompt=[text_block("sleep")]))
                deadline = time.monotonic() + 60
                while not processes_marked(marker):
                    assert time.monotonic() < deadline, "the command never started"
                    assert not prompt.done(), prompt
                    await asyncio.sleep(0.1)
                await conn.cancel(session_id=new.session_id)
                done = await prompt
                # The agent survives a cancel: the next prompt works in the same session.
                again = await conn.prompt(session_id=new.session_id, prompt=[text_block("/status")])
                return done, again, proc.returncode

        done, again, code = run(main())
    assert done.stop_reason == "cancelled"
    assert code is None and again.stop_reason == "end_turn"
    assert "Mode: default" in editor.text()
    deadline = time.monotonic() + 10
    while processes_marked(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_marked(marker) == []
    bash = editor.of("tool_call")[0]
    assert bash.kind == "execute" and marker in bash.title


def test_mentions_thinking_and_slash_commands(tmp_path: Path) -> None:
    ws = _ws(tmp_path)
    commands = ws / ".claude" / "commands"
    commands.mkdir(parents=True)
    (commands / "greet.md").write_text(
        "---\ndescription: Greet someone by name\nargument-hint: NAME\n---\nSay hi to $ARGUMENTS\n"
    )
    turns = [{"thinking": "The file says hello.", "text": "It greets the world."}, {"text": "Hi Ada!"}]
    editor = Editor()
    with serve(Script.from_dict({"turns": turns})) as model:

        async def main() -> Any:
            async with editor_with_dexa(tmp_path, agent_env(tmp_path, model.url), editor) as (conn, _):
                new = await conn.new_session(cwd=str(ws))
                opts = await conn.set_config_option(config_id="thinking", session_id=new.session_id, value="on")
                assert opts.config_options[0].current_value == "on"
                link = ResourceContentBlock(type="resource_link", name="a.txt", uri=f"file://{ws / 'a.txt'}")
                selection = EmbeddedResourceContentBlock(
                    type="resource",
                    resource=TextResourceContents(uri=f"file://{ws / 'b.py'}#L1", text="print('selected')"),
                )
                first = await conn.prompt(
                    session_id=new.session_id, prompt=[text_block("What does"), link, text_block("say?"), selection]
                )
                second = await conn.prompt(session_id=new.session_id, prompt=[text_block("/greet Ada")])
                return first, second

        first, second = run(main())
        sent = model.message_requests()
    assert first.stop_reason == second.stop_reason == "end_turn"
    assert editor.text("agent_thought_chunk") == "The file says hello."
    assert editor.text() == "It greets the world.Hi Ada!"
    assert sent[0]["thinking"]["type"] == "enabled"
    prompt = json.dumps(sent[0]["messages"][-1])
    assert f"What does @{ws / 'a.txt'} say?" in prompt and "hello world" in prompt and "print('selected')" in prompt
    assert "Say hi to Ada" in json.dumps(sent[1]["messages"][-1])
    (announced,) = editor.of("available_commands_update")
    greet = next(c for c in announced.available_commands if c.name == "greet")
    assert greet.description == "Greet someone by name" and greet.input.root.hint == "NAME"


def test_cancel_while_the_editor_is_asked_denies_nothing_runs_and_the_prompt_ends_cancelled(tmp_path: Path) -> None:
    """ACP's cancel order: the editor sends session/cancel, then answers its open permission request `cancelled`."""
    ws = _ws(tmp_path)
    marker = f"dexaacp{uuid.uuid4().hex[:10]}"
    turns = [{"tool_uses": [{"name": "Bash", "input": {"command": f"touch {marker}.ran"}}]}, {"text": "never"}]

    async def cancel_then_answer(call: ToolCallUpdate, options: list[PermissionOption]) -> str | None:
        await editor.conn.cancel(session_id=sid[0])
        return None

    editor = Editor(cancel_then_answer)
    sid: list[str] = []
    with serve(Script.from_dict({"turns": turns})) as model:

        async def main() -> Any:
            async with editor_with_dexa(tmp_path, agent_env(tmp_path, model.url), editor) as (conn, _):
                new = await conn.new_session(cwd=str(ws))
                sid.append(new.session_id)
                return await conn.prompt(session_id=new.session_id, prompt=[text_block("touch it")])

        done = run(main())
        calls = len(model.message_requests())
    assert done.stop_reason == "cancelled"
    assert len(editor.asks) == 1 and not (ws / f"{marker}.ran").exists()
    assert calls == 1  # the turn ended: the model was not called again with a refusal


def test_a_cli_session_opens_in_the_editor_with_its_history_and_continues(tmp_path: Path) -> None:
    ws = _ws(tmp_path)
    editor = Editor()
    with serve(Script.from_dict({"turns": [{"text": "First answer."}, {"text": "Second answer."}]})) as model:
        env = agent_env(tmp_path, model.url)
        ran = subprocess.run(
            [sys.executable, "-m", "dexa.cli", "run", "-p", "first question", "--output-format", "json"],
            env=env,
            cwd=ws,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert ran.returncode == 0, ran.stderr[-3000:]
        sid = json.loads(ran.stdout)["session_id"]

        async def main() -> Any:
            async with editor_with_dexa(tmp_path, env, editor) as (conn, _):
                listed = await conn.list_sessions(cwd=str(ws))  # the editor's history picker
                assert [(x.session_id, x.title) for x in listed.sessions] == [(sid, "first question")]
                assert listed.sessions[0].updated_at.endswith("+00:00")
                await conn.load_session(cwd=str(ws), session_id=sid)
                replayed = [(u.session_update, u.content.text) for u in editor.updates if hasattr(u, "content")]
                done = await conn.prompt(session_id=sid, prompt=[text_block("second question")])
                return replayed, done

        replayed, done = run(main())
        sent = model.message_requests()
    users = [text for kind, text in replayed if kind == "user_message_chunk"]
    answer = "".join(text for kind, text in replayed if kind == "agent_message_chunk")
    assert replayed[0][0] == "user_message_chunk" and replayed[-1][0] == "agent_message_chunk"
    assert len(users) == 1 and "first question" in users[0] and answer == "First answer."
    assert done.stop_reason == "end_turn" and editor.text().endswith("Second answer.")
    # The model saw the whole conversation: the CLI's turn, then the editor's.
    history = json.dumps(sent[-1]["messages"])
    assert history.index("first question") < history.index("First answer.") < history.index("second question")


def test_the_editors_mcp_servers_join_the_session(tmp_path: Path) -> None:
    """Zed passes the user's context servers in session/new: here the PyPI `mcp-server-time`, started by Dexa."""
    ws = _ws(tmp_path)
    turns = [
        {"tool_uses": [{"name": "mcp__clock__get_current_time", "input": {"timezone": "UTC"}}]},
        {"text": "It is now."},
    ]
    server = McpServerStdio(
        name="clock",
        command=sys.executable,
        args=["-m", "mcp_server_time", "--local-timezone", "UTC"],
        env=[EnvVariable(name="TZ", value="UTC")],
    )
    editor = Editor()
    with serve(Script.from_dict({"turns": turns})) as model:

        async def main() -> Any:
            async with editor_with_dexa(tmp_path, agent_env(tmp_path, model.url), editor) as (conn, _):
                new = await conn.new_session(cwd=str(ws), mcp_servers=[server])
                return await conn.prompt(session_id=new.session_id, prompt=[text_block("what time is it?")])

        done = run(main())
    assert done.stop_reason == "end_turn"
    # The loopback API, like the real one, calls only declared tools: the server's tool was offered to the model.
    (clock,) = editor.of("tool_call")
    assert clock.title == "mcp__clock__get_current_time" and clock.kind == "other"
    (result,) = [u for u in editor.of("tool_call_update") if u.tool_call_id == clock.tool_call_id and u.content]
    assert result.status == "completed" and '"timezone": "UTC"' in result.content[0].content.text
