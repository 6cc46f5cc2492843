"""`dexa run --agents '<json>'` and `--plugin-dir DIR`: subagents and plugins for one session, as Claude Code.

Entered where a user enters: a real `python -m dexa.cli` process against the scripted Messages API.
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

STREAM = ["--output-format", "stream-json", "--verbose"]


def _run(
    tmp_path: Path, server: FakeMessagesServer | None, *args: str
) -> tuple[list[dict[str, Any]], subprocess.CompletedProcess[str]]:
    ws = tmp_path / "ws"
    ws.mkdir(exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "dexa.cli", "-p", "go", *STREAM, *args],
        cwd=ws,
        env={
            **os.environ,
            "DEXA_HOME": str(tmp_path / "home"),
            "HOME": str(tmp_path / "user"),
            "ANTHROPIC_BASE_URL": server.url if server else "http://127.0.0.1:9",
            "ANTHROPIC_API_KEY": "sk-test",
        },
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return lines, done


def _system_texts(body: dict[str, Any]) -> str:
    system = body.get("system", "")
    return system if isinstance(system, str) else "\n".join(b.get("text", "") for b in system)


def _tool_results(server: FakeMessagesServer) -> list[str]:
    out: list[str] = []
    for body in server.message_requests():
        for m in body["messages"]:
            if m["role"] == "user" and isinstance(m["content"], list):
                for b in m["content"]:
                    if b.get("type") == "tool_result":
                        c = b.get("content")
                        out.append(c if isinstance(c, str) else "".join(x.get("text", "") for x in c or []))
    return out


AGENTS = {
    "reviewer": {
        "description": "Reviews code for bugs",
        "prompt": "You are REVIEWER-7, a strict code reviewer.",
        "tools": ["Read", "Grep"],
    }
}


def test_inline_agents_are_listed_at_init_and_task_runs_them_with_their_prompt(tmp_path: Path) -> None:
    task = {"description": "review", "prompt": "review main.py", "subagent_type": "reviewer"}
    script = {
        "turns": [
            {"tool_uses": [{"name": "Task", "input": task}]},
            {"text": "parent done"},
        ]
    }
    with serve(Script.from_dict(script)) as server:
        out, done = _run(tmp_path, server, "--agents", json.dumps(AGENTS))
        bodies = server.message_requests()
        results = _tool_results(server)
    assert done.returncode == 0, done.stderr[-2000:]
    init = next(m for m in out if m.get("subtype") == "init")
    assert "reviewer" in init["agents"]
    child = bodies[1]
    assert "REVIEWER-7" in _system_texts(child)
    offered = {t["name"] for t in child.get("tools", [])}
    assert offered and offered <= {"Read", "Grep"}, offered
    # The scripted API picks a reply by the number of assistant turns, so the child's first reply is the script's
    # first (the Task call, a tool it does not have); what matters here is that Task ran it without an error.
    assert len(results) == 1 and "subagent" not in results[0].lower(), results
    assert out[-1]["type"] == "result" and out[-1]["result"] == "parent done"


def test_a_bad_agents_definition_fails_before_the_session_naming_the_agent(tmp_path: Path) -> None:
    out, done = _run(tmp_path, None, "--agents", json.dumps({"helper": {"prompt": "x"}}))
    assert done.returncode == 1
    stderr = " ".join(done.stderr.split())
    assert "--agents: agent 'helper': description" in stderr, stderr
    assert out and out[-1]["is_error"] is True


def _plugin(root: Path) -> Path:
    plugin = root / "my-plugin"
    (plugin / ".claude-plugin").mkdir(parents=True)
    (plugin / ".claude-plugin" / "plugin.json").write_text(json.dumps({"name": "my-plugin", "version": "1.0.0"}))
    (plugin / "commands").mkdir()
    (plugin / "commands" / "greet.md").write_text("---\ndescription: Say hello\n---\nSay hello to $ARGUMENTS\n")
    skill = plugin / "skills" / "deploy-notes"
    skill.mkdir(parents=True)
    (skill / "SKILL.md").write_text(
        "---\nname: deploy-notes\ndescription: How we deploy\n---\nDEPLOY-SECRET-PHRASE: ship on Tuesdays.\n"
    )
    return plugin


def test_plugin_dir_loads_its_command_and_skill_for_the_session(tmp_path: Path) -> None:
    plugin = _plugin(tmp_path)
    script = {
        "turns": [
            {"tool_uses": [{"name": "Skill", "input": {"skill": "my-plugin:deploy-notes"}}]},
            {"text": "noted"},
        ]
    }
    with serve(Script.from_dict(script)) as server:
        out, done = _run(tmp_path, server, "--plugin-dir", str(plugin), "--allowedTools", "Skill")
        bodies = server.message_requests()
    assert done.returncode == 0, done.stderr[-2000:]
    init = next(m for m in out if m.get("subtype") == "init")
    assert "my-plugin:greet" in init["slash_commands"], init["slash_commands"]
    assert "my-plugin:deploy-notes" in init["skills"], init["skills"]
    assert "DEPLOY-SECRET-PHRASE" in json.dumps(bodies[-1]["messages"])


def test_plugin_dir_that_is_not_a_directory_is_refused(tmp_path: Path) -> None:
    _, done = _run(tmp_path, None, "--plugin-dir", str(tmp_path / "nope"))
    stderr = " ".join(done.stderr.split())
    assert done.returncode == 1 and f"--plugin-dir {tmp_path / 'nope'}: not a directory" in stderr


def test_agents_belong_to_the_invocation_not_the_resumed_session(tmp_path: Path) -> None:
    script = {"turns": [{"text": "one"}, {"text": "two"}, {"text": "three"}]}
    with serve(Script.from_dict(script)) as server:
        first, done = _run(tmp_path, server, "--agents", json.dumps(AGENTS))
        assert done.returncode == 0, done.stderr[-2000:]
        session_id = first[-1]["session_id"]
        second, done = _run(tmp_path, server, "--resume", session_id)
        assert done.returncode == 0, done.stderr[-2000:]
        other = {"tester": {"description": "Writes tests", "prompt": "You write tests."}}
        third, done = _run(tmp_path, server, "--resume", session_id, "--agents", json.dumps(other))
        assert done.returncode == 0, done.stderr[-2000:]

    def agents(out: list[dict[str, Any]]) -> list[str]:
        return next(m for m in out if m.get("subtype") == "init")["agents"]

    assert "reviewer" in agents(first)
    assert "reviewer" not in agents(second) and "tester" not in agents(second)
    assert "tester" in agents(third) and "reviewer" not in agents(third)
    assert third[-1]["result"] == "three"


def test_an_sdk_mcp_server_outside_an_sdk_session_is_skipped_with_a_warning(tmp_path: Path) -> None:
    config = {"mcpServers": {"calc": {"type": "sdk", "name": "calc"}}}
    with serve(Script.from_dict({"turns": [{"text": "ok"}]})) as server:
        out, done = _run(tmp_path, server, "--mcp-config", json.dumps(config))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "SDK MCP server 'calc' skipped: it needs --input-format stream-json" in " ".join(done.stderr.split())
    assert out[-1]["result"] == "ok"
