"""Blocking staged outputs in `dexa run`: with an approver (stream-json with --permission-prompt-tool stdio) the call
waits for the answer, the control plane executes it and the agent continues with the result; headless with no
approver it fails clearly and stays staged, `dexa outputs approve` executes it later, and the resumed session's next
turn is told. The policy comes from the user's settings (dexa.outputPolicy, with its "modes")."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from serve_rig import Rig

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap")

COMMIT = "mcp__git__git_commit"
POLICY = {"tools": {"git/git_commit": "stage"}, "modes": {"tools": {"git/git_commit": "blocking"}}}


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    rig = Rig(tmp_path)
    settings = rig.user_home / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text(json.dumps({"dexa": {"outputPolicy": POLICY}}))
    try:
        yield rig
    finally:
        rig.close()


def _env(rig: Rig) -> dict[str, str]:
    assert rig.model is not None
    return {
        **os.environ,
        "DEXA_HOME": str(rig.home),
        "HOME": str(rig.user_home),
        "ANTHROPIC_BASE_URL": rig.model.url,
        "ANTHROPIC_API_KEY": "sk-test-loopback",
    }


def _dexa(rig: Rig, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dexa.cli", *args],
        cwd=rig.ws,
        env=_env(rig),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _commit_turn(rig: Rig) -> dict[str, Any]:
    return {"tool_uses": [{"name": COMMIT, "input": {"repo_path": str(rig.repo), "message": "Add notes"}}]}


def test_headless_blocking_output_fails_clearly_then_executes_on_approval_and_the_next_turn_hears(rig: Rig) -> None:
    rig.use_model([_commit_turn(rig), {"text": "It needs a reviewer."}, {"text": "Good, it is committed."}])
    ran = _dexa(rig, "-p", "commit the notes", "--allowedTools", COMMIT, "--output-format", "json")
    assert ran.returncode == 0, ran.stderr[-2000:]
    result = json.loads(ran.stdout)
    assert result["result"] == "It needs a reviewer."
    assert rig.model is not None
    tool_result = rig.model.message_requests()[1]["messages"][-1]["content"][0]
    assert tool_result["is_error"] and "no approver" in json.dumps(tool_result)
    assert "stays staged for review" in json.dumps(tool_result)
    assert rig.commits() == []

    listed = _dexa(rig, "outputs", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    [pending] = json.loads(listed.stdout)
    assert pending["context"]["mode"] == "blocking" and pending["status"] == "pending"

    approved = _dexa(rig, "outputs", "approve", pending["id"], "--json")
    assert approved.returncode == 0, approved.stderr[-2000:]
    assert rig.commits() == ["Add notes"]

    resumed = _dexa(rig, "-p", "did it go through?", "--resume", result["session_id"], "--output-format", "json")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.loads(resumed.stdout)["result"] == "Good, it is committed."
    told = json.dumps(rig.model.message_requests()[-1]["messages"])
    assert pending["id"] in told and "executed exactly once" in told


def test_an_approver_on_stdio_answers_the_blocking_output_and_the_agent_continues_with_the_result(rig: Rig) -> None:
    rig.use_model([_commit_turn(rig), {"text": "Committed after approval."}])
    flags = ["--output-format", "stream-json", "--verbose", "--input-format", "stream-json"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "dexa.cli", *flags, "--permission-prompt-tool", "stdio", "--allowedTools", COMMIT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=rig.ws,
        env=_env(rig),
    )
    assert proc.stdin and proc.stdout
    user = {"type": "user", "message": {"role": "user", "content": "commit"}, "parent_tool_use_id": None}
    proc.stdin.write(json.dumps({**user, "session_id": "default"}) + "\n")
    proc.stdin.flush()
    asked: list[dict[str, Any]] = []
    last: dict[str, Any] = {}
    for line in proc.stdout:
        msg = json.loads(line)
        if msg["type"] == "control_request" and msg["request"].get("subtype") == "can_use_tool":
            asked.append(msg["request"])
            assert rig.commits() == [], "nothing runs before the answer"
            answer = {"behavior": "allow", "updatedInput": msg["request"]["input"]}
            response = {"subtype": "success", "request_id": msg["request_id"], "response": answer}
            proc.stdin.write(json.dumps({"type": "control_response", "response": response}) + "\n")
            proc.stdin.flush()
        if msg["type"] == "result":
            last = msg
            break
    proc.stdin.close()
    assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
    assert [a["tool_name"] for a in asked] == [COMMIT]
    assert last["result"] == "Committed after approval."
    assert rig.commits() == ["Add notes"]
    assert rig.model is not None
    tool_result = rig.model.message_requests()[-1]["messages"][-1]["content"][0]
    assert not tool_result.get("is_error") and "executed exactly once" in json.dumps(tool_result)
