"""`dexa acp --server URL`: a session created through `dexa serve`'s API (as the web UI does) opens in the editor
with session/load, its history replayed, and continues there: the next prompt runs on the server, and the edit it
makes asks the editor, whose answer goes back through the API."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from acp import text_block
from acp_rig import Editor, agent_env, editor_with_dexa, run

from dexa.testing.messages_api import serve
from dexa.testing.procs import processes_marked
from dexa.testing.script import Script


def test_a_session_started_through_the_api_continues_in_the_editor(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    path = ws / "a.txt"
    path.write_text("hello world\n")
    commands = ws / ".claude" / "commands"
    commands.mkdir(parents=True)
    (commands / "greet.md").write_text(
        "---\ndescription: Greet someone by name\nargument-hint: NAME\n---\nSay hi to $ARGUMENTS\n"
    )
    marker = f"dexaattach{uuid.uuid4().hex[:10]}"
    turns: list[dict[str, Any]] = [
        {"text": "It says hello world."},
        {"tool_uses": [{"name": "Read", "input": {"file_path": str(path)}}]},
        {
            "tool_uses": [
                {"name": "Edit", "input": {"file_path": str(path), "old_string": "hello", "new_string": "bye"}}
            ]
        },
        {"text": "Edited on the server."},
        {"text": "Hi Ada!"},
        {"tool_uses": [{"name": "Bash", "input": {"command": f"exec -a {marker} sleep 600"}}]},
        {"text": "never reached"},
    ]
    editor = Editor()
    with serve(Script.from_dict({"turns": turns})) as model:
        env = agent_env(tmp_path, model.url)
        log = (tmp_path / "serve.log").open("w")
        server = subprocess.Popen(
            [sys.executable, "-m", "dexa.cli", "serve", "--port", "0"],
            env=env,
            cwd=ws,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            start_new_session=True,
        )
        try:
            assert server.stdout is not None
            line = server.stdout.readline()
            assert "listening on" in line, (tmp_path / "serve.log").read_text()[-3000:]
            url = line.split("listening on ")[1].split()[0]
            token = (tmp_path / "dexa-home" / "token").read_text().strip()
            http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
            created = http.post("/sessions", json={"prompt": "what does a.txt say?", "cwd": str(ws)}).json()
            sid = created["id"]
            deadline = time.monotonic() + 60
            while (s := http.get(f"/sessions/{sid}").json())["turns_completed"] < 1:
                assert time.monotonic() < deadline, s
                time.sleep(0.1)

            async def main() -> Any:
                async with editor_with_dexa(tmp_path, {**env, "DEXA_TOKEN": token}, editor, "--server", url) as (
                    conn,
                    _,
                ):
                    listed = await conn.list_sessions(cwd=str(ws))
                    assert [x.session_id for x in listed.sessions] == [sid]
                    loaded = await conn.load_session(cwd=str(ws), session_id=sid)
                    replayed = list(editor.updates)
                    done = await conn.prompt(session_id=sid, prompt=[text_block("now change hello to bye")])
                    # The project's command, announced from the server's list, runs there expanded.
                    greeted = await conn.prompt(session_id=sid, prompt=[text_block("/greet Ada")])
                    assert greeted.stop_reason == "end_turn"
                    # Cancel from the editor stops the server's turn (its API's abort) and the command with it.
                    sleeping = asyncio.create_task(conn.prompt(session_id=sid, prompt=[text_block("sleep")]))
                    deadline = time.monotonic() + 60
                    while not processes_marked(marker):
                        assert time.monotonic() < deadline and not sleeping.done(), "the command never started"
                        await asyncio.sleep(0.1)
                    await conn.cancel(session_id=sid)
                    return loaded, replayed, done, await sleeping

            loaded, replayed, done, cancelled = run(main())
            sent = model.message_requests()
            after = http.get(f"/sessions/{sid}").json()
            approvals = http.get(f"/sessions/{sid}/approvals").json()
        finally:
            os.killpg(server.pid, signal.SIGINT)
            server.wait(timeout=30)
            log.close()
    assert loaded.modes.current_mode_id == "default"
    assert not loaded.config_options  # the server picks the thinking budget: no toggle that would do nothing
    users = [u.content.text for u in replayed if u.session_update == "user_message_chunk"]
    agents = [u.content.text for u in replayed if u.session_update == "agent_message_chunk"]
    assert any("what does a.txt say?" in t for t in users) and "".join(agents) == "It says hello world."
    assert done.stop_reason == "end_turn"
    assert path.read_text() == "bye world\n"
    call = editor.asks[0][0]
    assert call.kind == "edit" and call.content[0].new_text == "bye"
    assert cancelled.stop_reason == "cancelled"
    assert after["turns_completed"] == 4 and after["status"] == "idle" and after["turn"] is None
    assert [(a["tool_name"], a["status"]) for a in approvals["data"]] == [("Edit", "allowed"), ("Bash", "allowed")]
    deadline = time.monotonic() + 10
    while processes_marked(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_marked(marker) == []
    assert "Edited on the server." in editor.text() and "Hi Ada!" in editor.text()
    announced = editor.of("available_commands_update")
    greet = next(c for c in announced[0].available_commands if c.name == "greet")
    assert greet.description == "Greet someone by name" and greet.input.root.hint == "NAME"
    assert any("Say hi to Ada" in json.dumps(r["messages"][-1]) for r in sent)
