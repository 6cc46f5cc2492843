"""Sessions over HTTP: create and run, busy turns, abort, mode, fork, tools, todo, artifacts, rewind."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import httpx
from api_harness import MemoryRewinder, YieldingStore, make_api, rule_check, wait_for
from fastapi.testclient import TestClient

from dexa.adapters.sqlite import SqliteStore
from dexa.core.events import EventType
from dexa.testing.scripted import FunctionModel, reply, text, tool_use


def _idle(client: TestClient, h: dict[str, str], sid: str) -> dict[str, Any]:
    return wait_for(
        lambda: (s := client.get(f"/sessions/{sid}", headers=h).json())["status"] == "idle" and not s["running"] and s
    )


def test_creating_a_session_with_a_prompt_runs_the_turn_to_completion(tmp_path: Path) -> None:
    api = make_api(tmp_path)
    with TestClient(api.app) as client:
        r = client.post(
            "/sessions", json={"prompt": "go", "title": "t1", "allowed_tools": ["Append"]}, headers=api.h("a_member")
        )
        assert r.status_code == 201 and r.json()["turn"] == 1 and r.json()["user_id"] == "usr_a_member"
        s = _idle(client, api.h(), r.json()["id"])
        assert s["turns_completed"] == 1 and s["result"] == "done after 1 tool calls"
        assert s["config"]["allowed_tools"] == ["Append"] and s["last_seq"] > 5
        listed = client.get("/sessions", headers=api.h("a_reviewer")).json()
        assert [x["id"] for x in listed["data"]] == [s["id"]]


def test_a_second_message_while_a_turn_runs_is_409_session_busy(tmp_path: Path) -> None:
    release = threading.Event()

    async def gated(req: Any) -> Any:
        while len(req.messages) == 1 and not release.is_set():  # noqa: ASYNC110 - a threading.Event, set by the test's thread
            await asyncio.sleep(0.01)
        return reply("thinking") if len(req.messages) == 1 else text("x")

    api = make_api(tmp_path, model=FunctionModel(gated))
    with TestClient(api.app) as client:
        sid = client.post("/sessions", json={"prompt": "one"}, headers=api.h()).json()["id"]
        r = client.post(f"/sessions/{sid}/messages", json={"prompt": "two"}, headers=api.h())
        release.set()
        assert r.status_code == 409 and r.json()["code"] == "session_busy"
        _idle(client, api.h(), sid)
        r = client.post(f"/sessions/{sid}/messages", json={"prompt": "two"}, headers=api.h())
        assert r.status_code == 202 and r.json()["turn"] == 2
        assert _idle(client, api.h(), sid)["turns_completed"] == 2


def test_a_message_sent_the_moment_a_turn_ends_is_still_driven(tmp_path: Path) -> None:
    # The turn is already idle in the store while the driver is still writing its last event: a prompt sent in
    # that window must not be left undriven by the exiting driver.
    store = YieldingStore(SqliteStore(tmp_path / "y.db"), slow_type="session.idle", slow_s=0.02)
    api = make_api(tmp_path, model=FunctionModel(lambda req: text(f"turn reply {len(req.messages)}")), store=store)

    async def send(http: httpx.AsyncClient, sid: str, prompt: str) -> None:
        while (  # noqa: ASYNC110 - retrying an HTTP 409; there is nothing to wait on
            await http.post(f"/sessions/{sid}/messages", json={"prompt": prompt}, headers=api.h())
        ).status_code != 202:
            await asyncio.sleep(0)  # retry the 409 as soon as the previous turn is persisted as finished

    async def main() -> dict[str, Any]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api.app), base_url="http://d") as http:
            sid = (await http.post("/sessions", json={}, headers=api.h())).json()["id"]
            async with asyncio.timeout(10):
                for i in range(5):
                    await send(http, sid, f"p{i}")
                while (s := (await http.get(f"/sessions/{sid}", headers=api.h())).json())["turns_completed"] < 5:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            return s

    assert asyncio.run(main())["status"] == "idle"


def test_abort_cancels_the_running_turn_and_is_audited(tmp_path: Path) -> None:
    # The model answers only after a minute, so the abort finds the turn running: with half a second, a loaded
    # machine let the turn finish before the abort arrived (no turn.cancelled to see).
    api = make_api(tmp_path, model=FunctionModel(lambda req: reply("slow", delay_ms=60_000)))
    with TestClient(api.app) as client:
        sid = client.post("/sessions", json={"prompt": "go"}, headers=api.h("a_member")).json()["id"]
        r = client.post(f"/sessions/{sid}/abort", headers=api.h("a_member"))
        assert r.status_code == 200 and r.json()["turn"] is None and not r.json()["running"]
        types = [e.type for e in asyncio.run(api.runtime.store.read_events(sid))]
        assert EventType.TURN_CANCELLED in types
        audit = client.get("/audit", headers=api.h()).json()["data"]
        assert [(e["action"], e["actor"]) for e in audit] == [("session.abort", "usr_a_member")]


def test_mode_change_is_applied_emitted_and_audited(tmp_path: Path) -> None:
    api = make_api(tmp_path)
    with TestClient(api.app) as client:
        sid = client.post("/sessions", json={}, headers=api.h()).json()["id"]
        r = client.post(f"/sessions/{sid}/mode", json={"mode": "acceptEdits"}, headers=api.h("a_member"))
        assert r.status_code == 200 and r.json()["permission_mode"] == "acceptEdits"
        assert client.post(f"/sessions/{sid}/mode", json={"mode": "auto"}, headers=api.h()).status_code == 422
        events = asyncio.run(api.runtime.store.read_events(sid))
        assert events[-1].type == EventType.PERMISSION_MODE_CHANGED and events[-1].data["to"] == "acceptEdits"
        (entry,) = client.get("/audit", headers=api.h()).json()["data"]
        assert entry["detail"] == {"from": "default", "to": "acceptEdits"}


def test_fork_copies_visible_history_and_continues_independently(tmp_path: Path) -> None:
    api = make_api(tmp_path, model=FunctionModel(lambda req: text(f"seen {len(req.messages)} messages")))
    with TestClient(api.app) as client:
        sid = client.post("/sessions", json={"prompt": "first"}, headers=api.h()).json()["id"]
        _idle(client, api.h(), sid)
        r = client.post(f"/sessions/{sid}/fork", json={"title": "branch"}, headers=api.h())
        assert r.status_code == 201
        child = r.json()
        assert child["parent_id"] == sid and child["title"] == "branch" and child["id"] != sid
        client.post(f"/sessions/{child['id']}/messages", json={"prompt": "second"}, headers=api.h())
        assert _idle(client, api.h(), child["id"])["result"] == "seen 3 messages"
        parent_msgs = asyncio.run(api.runtime.store.list_messages(sid))
        assert len(parent_msgs) == 2
        bad = client.post(f"/sessions/{sid}/fork", json={"message_id": "nope"}, headers=api.h())
        assert bad.status_code == 400 and "message_id" in bad.json()["detail"]


def test_tools_todo_and_artifacts_reflect_the_session(tmp_path: Path) -> None:
    api = make_api(
        tmp_path,
        model=FunctionModel(
            lambda req: text("ok") if req.messages[-1].tool_results else tool_use("Append", {"path": "f", "line": "l"})
        ),
    )
    with TestClient(api.app) as client:
        sid = client.post("/sessions", json={"prompt": "go"}, headers=api.h()).json()["id"]
        _idle(client, api.h(), sid)
        assert client.get(f"/sessions/{sid}/tools", headers=api.h()).json() == {"tools": ["Append"]}
        store = api.runtime.store
        asyncio.run(
            store.kv_put(
                "tool_state",
                sid,
                {
                    "cwd": "/",
                    "todos": [
                        {"content": "write tests", "status": "in_progress", "activeForm": "Writing tests"},
                        {"bogus": 1},
                    ],
                },
            )
        )
        todo = client.get(f"/sessions/{sid}/todo", headers=api.h()).json()["todos"]
        assert todo == [{"content": "write tests", "status": "in_progress", "activeForm": "Writing tests"}]

        async def fake_edits() -> None:
            await store.append_event(
                sid, "tool.started", {"tool_use_id": "tu1", "name": "Edit", "input": {"file_path": "/w/x.py"}}
            )
            await store.append_event(
                sid,
                "tool.completed",
                {"tool_use_id": "tu1", "name": "Edit", "status": "done", "content": "ok", "data": {"diff": "-a\n+b\n"}},
            )
            await store.append_event(
                sid, "tool.started", {"tool_use_id": "tu2", "name": "Bash", "input": {"command": "pytest -q"}}
            )
            await store.append_event(
                sid,
                "tool.completed",
                {"tool_use_id": "tu2", "name": "Bash", "status": "failed", "content": "1 failed", "is_error": True},
            )

        asyncio.run(fake_edits())
        arts = client.get(f"/sessions/{sid}/artifacts", headers=api.h()).json()
        assert [(d["path"], d["diff"]) for d in arts["diffs"]] == [("/w/x.py", "-a\n+b\n")]
        assert [(c["command"], c["output"], c["is_error"]) for c in arts["commands"]] == [
            ("pytest -q", "1 failed", True)
        ]


def test_rewind_delegates_to_the_rewinder_and_refuses_while_a_turn_runs(tmp_path: Path) -> None:
    rewinder = MemoryRewinder()
    release = threading.Event()

    async def gated(req: Any) -> Any:
        # The turn runs until the test has tried its rewind: no timing window on a loaded machine.
        while not release.is_set():  # noqa: ASYNC110 - a threading.Event, set by the test's thread
            await asyncio.sleep(0.01)
        return reply("slow")

    api = make_api(tmp_path, model=FunctionModel(gated), rewinder=rewinder)
    with TestClient(api.app) as client:
        sid = client.post("/sessions", json={"prompt": "go"}, headers=api.h()).json()["id"]
        busy = client.post(f"/sessions/{sid}/rewind", json={"checkpoint_id": "cp_1"}, headers=api.h())
        release.set()
        assert busy.status_code == 409 and busy.json()["code"] == "session_busy"
        _idle(client, api.h(), sid)
        assert [c["id"] for c in client.get(f"/sessions/{sid}/checkpoints", headers=api.h()).json()["data"]] == [
            "cp_2",
            "cp_1",
        ]
        r = client.post(f"/sessions/{sid}/rewind", json={"checkpoint_id": "cp_1", "mode": "code"}, headers=api.h())
        assert r.status_code == 200 and r.json()["details"] == {"restored_files": 1, "hidden_messages": 2}
        assert rewinder.calls == [(sid, "cp_1", "code", "ask")]
        missing = client.post(f"/sessions/{sid}/rewind", json={"checkpoint_id": "cp_9"}, headers=api.h())
        assert missing.status_code == 404 and missing.json()["code"] == "checkpoint_not_found"


def test_unconfigured_rewind_and_permission_check_answer_501(tmp_path: Path) -> None:
    api = make_api(tmp_path)
    with TestClient(api.app) as client:
        sid = client.post("/sessions", json={}, headers=api.h()).json()["id"]
        for r in (
            client.get(f"/sessions/{sid}/checkpoints", headers=api.h()),
            client.post(f"/sessions/{sid}/rewind", json={"checkpoint_id": "c"}, headers=api.h()),
            client.post("/permissions/check", json={"tool": "Bash"}, headers=api.h()),
        ):
            assert r.status_code == 501 and r.json()["code"] == "not_implemented"


def test_permission_check_returns_the_engines_decision(tmp_path: Path) -> None:
    api = make_api(tmp_path, permission_check=rule_check)
    with TestClient(api.app) as client:
        r = client.post("/permissions/check", json={"tool": "Bash", "input": {"command": "ls"}}, headers=api.h())
        assert r.status_code == 200 and r.json()["behavior"] == "ask" and r.json()["rule"] == "Bash"
        assert client.post("/permissions/check", json={"tool": "Delete"}, headers=api.h()).json()["behavior"] == "deny"
        assert client.post("/permissions/check", json={"tool": "Read"}, headers=api.h("a_reviewer")).status_code == 403


def test_bad_working_directories_are_400_with_the_reason(tmp_path: Path) -> None:
    api = make_api(tmp_path)
    with TestClient(api.app) as client:
        for cwd in ("definitely/not/here", "x" * 5000, "a\x00b"):
            r = client.post("/sessions", json={"cwd": cwd[:4096]}, headers=api.h())
            assert r.status_code == 400 and r.json()["code"] == "config_error" and "cwd" in r.json()["detail"]
        # Outside the org's workspace roots is a refusal, not a missing directory (tests/security covers more).
        r = client.post("/sessions", json={"cwd": "/definitely/not/here"}, headers=api.h())
        assert r.status_code == 403 and r.json()["code"] == "forbidden" and "cwd" in r.json()["detail"]
