"""Approval -> execution -> the agent continues, through `dexa serve` (issue 16, "What must hold" 2).

An org output policy stages `mcp-server-git`'s `git_commit` (a third-party stdio server from PyPI, configured in
~/.claude.json). The server that staged it is stopped (the session's connections are gone) and a new one started on
the same home; the approval there reconnects to the server from the definition kept with the output, in the
workspace sandbox, and the commit happens exactly once. Non-blocking: the agent's next turn is told. Blocking: the
parked turn continues with the result as the tool result. Real parts: `dexa serve` processes, the SQLite store,
bubblewrap, the git server, the Anthropic SDK against the loopback Messages API.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from serve_rig import Rig, Served

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap")

COMMIT = "mcp__git__git_commit"


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    rig = Rig(tmp_path)
    try:
        yield rig
    finally:
        rig.close()


def _stage_commit(server: Served, rig: Rig, modes: dict[str, Any] | None = None) -> str:
    policy: dict[str, Any] = {"tools": {"git/git_commit": "stage"}}
    if modes is not None:
        policy["modes"] = modes
    server.call("PUT", "/output-policies", json=policy)
    created = server.call(
        "POST", "/sessions", json={"prompt": "commit the notes", "allowed_tools": [COMMIT], "cwd": str(rig.ws)}
    )
    return created["id"]


def _user_texts(request: dict[str, Any]) -> str:
    """Everything the model was sent as the user (prompts and tool results), as one string."""
    parts: list[str] = []
    for message in request["messages"]:
        if message["role"] != "user":
            continue
        content = message["content"]
        parts.append(content if isinstance(content, str) else json.dumps(content))
    return "\n".join(parts)


def test_a_non_blocking_commit_executes_once_after_a_restart_and_the_next_turn_hears_of_it(rig: Rig) -> None:
    rig.use_model(
        [
            {
                "text": "Committing.",
                "tool_uses": [{"name": COMMIT, "input": {"repo_path": str(rig.repo), "message": "Add notes"}}],
            },
            {"text": "The commit is staged for review."},
            {"text": "Noted: it was committed."},
        ]
    )
    first = rig.serve()
    session_id = _stage_commit(first, rig)
    done = first.idle(session_id)
    assert done["result"] == "The commit is staged for review.", done
    [staged] = first.call("GET", f"/sessions/{session_id}/pending-outputs")["data"]
    assert staged["status"] == "pending" and staged["tool"] == COMMIT
    assert staged["context"]["mode"] == "non_blocking"
    assert rig.commits() == [], "the staged commit reached the server before approval"
    first.stop()  # the session's connections die with the server

    second = rig.serve()
    path = f"/sessions/{session_id}/pending-outputs/{staged['id']}/approve"
    edited = {"repo_path": str(rig.repo), "message": "Add notes (reviewed)"}
    answers: list[Any] = []

    def approve() -> None:
        answers.append(second.request("POST", path, json={"arguments": edited}))

    threads = [threading.Thread(target=approve) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(a.status_code for a in answers)
    assert codes == [200, 409, 409, 409], [a.text for a in answers]
    [won] = [a.json() for a in answers if a.status_code == 200]
    assert won["status"] == "executed", won
    assert won["edited"] and won["arguments"]["message"] == "Add notes (reviewed)"
    assert rig.commits() == ["Add notes (reviewed)"], "the approved commit must happen exactly once, as edited"
    ledger = [e for e in second.call("GET", "/outputs")["data"] if e["id"] == staged["id"]]
    assert ledger and ledger[0]["status"] == "executed"

    second.call("POST", f"/sessions/{session_id}/messages", json={"prompt": "did it go through?"})
    assert second.idle(session_id)["result"] == "Noted: it was committed."
    last = rig.model.message_requests()[-1] if rig.model else {}
    told = _user_texts(last)
    assert staged["id"] in told and "executed exactly once" in told and "Add notes (reviewed)" in told, told
    types = [e["type"] for e in second.events(session_id)]
    assert "output.executed" in types


def test_a_blocking_commit_parks_the_turn_which_continues_with_the_result_after_a_restart(rig: Rig) -> None:
    rig.use_model(
        [
            {
                "text": "Committing.",
                "tool_uses": [{"name": COMMIT, "input": {"repo_path": str(rig.repo), "message": "Add notes"}}],
            },
            {"text": "Committed, the reviewer approved it."},
        ]
    )
    first = rig.serve()
    session_id = _stage_commit(first, rig, modes={"tools": {"git/git_commit": "blocking"}})
    first.wait(session_id, lambda s: s["status"] == "waiting", "the turn parked on the staged commit")
    [approval] = first.call("GET", f"/sessions/{session_id}/approvals", params={"status": "pending"})["data"]
    assert approval["kind"] == "output"
    [staged] = first.call("GET", f"/sessions/{session_id}/pending-outputs")["data"]
    assert staged["context"]["mode"] == "blocking" and rig.commits() == []
    first.stop()

    second = rig.serve()
    out = second.call("POST", f"/sessions/{session_id}/pending-outputs/{staged['id']}/approve", json={})
    assert out["status"] == "executed", out
    done = second.idle(session_id)
    assert done["result"] == "Committed, the reviewer approved it.", done
    assert rig.commits() == ["Add notes"]
    assert rig.model is not None
    requests = rig.model.message_requests()
    assert len(requests) == 2
    result = requests[-1]["messages"][-1]["content"][0]
    assert result["type"] == "tool_result" and not result.get("is_error"), result
    assert "executed exactly once" in json.dumps(result) and staged["id"] in json.dumps(result)
    again = second.request(
        "POST", f"/sessions/{session_id}/approve", json={"approval_id": approval["id"], "decision": "once"}
    )
    assert again.status_code == 409


def test_an_execution_cut_by_a_crash_fails_on_restart_and_the_parked_turn_continues_with_that(rig: Rig) -> None:
    """A server stopped between claiming an execution and recording its result leaves the output "approved". It is
    never retried (the commit may have happened); the next server marks it failed, says so in the ledger, and the
    blocking turn parked on it goes on with that failure as its tool result."""
    import asyncio

    from dexa.adapters.sqlite import SqliteStore
    from dexa.integrations.outputs.models import EXECUTIONS_NAMESPACE, LEDGER_NAMESPACE, NAMESPACE

    rig.use_model(
        [
            {
                "text": "Committing.",
                "tool_uses": [{"name": COMMIT, "input": {"repo_path": str(rig.repo), "message": "Add notes"}}],
            },
            {"text": "The commit may not have happened; please check the repository."},
        ]
    )
    first = rig.serve()
    session_id = _stage_commit(first, rig, modes={"tools": {"git/git_commit": "blocking"}})
    first.wait(session_id, lambda s: s["status"] == "waiting", "the turn parked on the staged commit")
    [staged] = first.call("GET", f"/sessions/{session_id}/pending-outputs")["data"]
    first.stop()

    async def crash_mid_execution() -> None:
        # Exactly what approve() has written when the process dies inside the executor's call.
        store = SqliteStore(rig.home / "dexa.db")
        try:
            [doc] = [d for d in await store.kv_list(NAMESPACE, prefix="out_", org_id="org_local") if d]
            assert doc["id"] == staged["id"] and doc["status"] == "pending"
            doc.update(status="approved", decided_by="dev", final_arguments=doc["arguments"])
            doc["final_hash"] = doc["args_hash"]
            await store.kv_put(NAMESPACE, doc["id"], doc, org_id="org_local")
            await store.kv_put(EXECUTIONS_NAMESPACE, doc["id"], {"at": 1.0}, org_id="org_local")
        finally:
            store.close()

    asyncio.run(crash_mid_execution())

    async def ledger() -> list[dict[str, Any]]:
        store = SqliteStore(rig.home / "dexa.db")
        try:
            return await store.kv_list(LEDGER_NAMESPACE, org_id="org_local")
        finally:
            store.close()

    second = rig.serve()
    done = second.idle(session_id)
    assert done["result"] == "The commit may not have happened; please check the repository.", done
    [output] = second.call("GET", f"/sessions/{session_id}/pending-outputs")["data"]
    assert output["status"] == "failed" and output["error"].startswith("interrupted: the server stopped"), output
    assert rig.commits() == []  # not retried
    [entry] = asyncio.run(ledger())
    assert entry["output_id"] == staged["id"] and entry["status"] == "failed" and "interrupted" in entry["error"]
    assert rig.model is not None
    result = rig.model.message_requests()[-1]["messages"][-1]["content"][0]
    assert result["type"] == "tool_result" and result.get("is_error"), result
    assert "check the target before retrying" in json.dumps(result)
    again = second.request("POST", f"/sessions/{session_id}/pending-outputs/{staged['id']}/approve", json={})
    assert again.status_code == 409
