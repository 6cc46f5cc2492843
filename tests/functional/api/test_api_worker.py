"""Turns on their own loop thread (create_app(turn_worker=True), what `dexa serve` uses)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from api_harness import make_api, wait_for
from fastapi.testclient import TestClient

from dexa.api.worker import ThreadSafeNotifier, TurnWorker
from dexa.testing.fakes import AppendTool, RulePolicy
from dexa.testing.scripted import FunctionModel, text, tool_use


def test_notify_from_another_thread_wakes_a_waiter_on_its_own_loop() -> None:
    notifier = ThreadSafeNotifier()

    async def main() -> tuple[bool, bool]:
        waiting = asyncio.create_task(notifier.wait("k", 5))
        await asyncio.sleep(0.01)
        threading.Thread(target=notifier.notify, args=("k",)).start()
        woke = await waiting
        return woke, await notifier.wait("k", 0.05)

    assert asyncio.run(main()) == (True, False)


def test_worker_call_runs_on_the_worker_thread_and_returns_its_result() -> None:
    worker = TurnWorker()
    try:

        async def where() -> str:
            return threading.current_thread().name

        assert asyncio.run(worker.call(where)) == "dexa-turns"
    finally:
        worker.stop()


def _ask(request: Any) -> Any:
    return text("ok") if request.messages[-1].tool_results else tool_use("Append", {"path": "w.txt", "line": "1"})


def test_a_session_with_an_approval_completes_when_turns_run_on_the_worker(tmp_path: Path) -> None:
    tool = AppendTool()
    api = make_api(
        tmp_path, model=FunctionModel(_ask), policy=RulePolicy(ask={"Append"}), tools=[tool], turn_worker=True
    )
    with TestClient(api.app) as client:
        sid = client.post("/sessions", json={"prompt": "go"}, headers=api.h()).json()["id"]
        pending = wait_for(
            lambda: client.get(f"/sessions/{sid}/approvals", params={"status": "pending"}, headers=api.h()).json()[
                "data"
            ]
        )
        results = [
            client.post(
                f"/sessions/{sid}/approve", json={"approval_id": pending[0]["id"], "decision": "once"}, headers=api.h()
            ).status_code
            for _ in range(3)
        ]
        assert results == [200, 409, 409]
        wait_for(
            lambda: (
                (s := client.get(f"/sessions/{sid}", headers=api.h()).json())["status"] == "idle" and not s["running"]
            )
        )
        body = client.get(f"/sessions/{sid}/events", params={"mode": "poll"}, headers=api.h()).text
        assert "turn.completed" in body and tool.runs == 1
        assert client.get(f"/sessions/{sid}/tools", headers=api.h()).json() == {"tools": ["Append"]}
        assert client.post(f"/sessions/{sid}/mode", json={"mode": "plan"}, headers=api.h()).status_code == 200
    assert api.app.state.dexa.worker.loop.is_closed()  # lifespan shutdown stopped the thread
