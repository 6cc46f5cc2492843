"""Approvals over HTTP: inline decisions, races between clients, exactly-once execution of tools and outputs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_harness import Api, make_api

from dexa.api.outputs import KvOutputQueue
from dexa.api.ports import PendingOutput
from dexa.testing.fakes import AppendTool, RulePolicy
from dexa.testing.scripted import FunctionModel, text, tool_use


def _append_once(request: Any) -> Any:
    if request.messages[-1].tool_results:
        return text("done: " + request.messages[-1].tool_results[0].content)
    return tool_use("Append", {"path": "a.txt", "line": "ran"})


def _asking_api(tmp_path: Path, **kwargs: Any) -> tuple[Api, AppendTool]:
    tool = AppendTool()
    api = make_api(
        tmp_path, model=FunctionModel(_append_once), policy=RulePolicy(ask={"Append"}), tools=[tool], **kwargs
    )
    return api, tool


async def _until(check: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
    async with asyncio.timeout(timeout):
        while not (value := await check()):  # noqa: ASYNC110 - HTTP-side state has no event to wait on
            await asyncio.sleep(0.01)
        return value


def _http(api: Api) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=api.app), base_url="http://dexa")


async def _start_waiting_session(http: httpx.AsyncClient, api: Api) -> tuple[str, str]:
    sid = (await http.post("/sessions", json={"prompt": "append please"}, headers=api.h("a_member"))).json()["id"]

    async def pending() -> Any:
        r = await http.get(f"/sessions/{sid}/approvals", params={"status": "pending"}, headers=api.h())
        return r.json()["data"]

    (approval,) = await _until(pending)
    return sid, approval["id"]


async def _idle(http: httpx.AsyncClient, api: Api, sid: str) -> dict[str, Any]:
    async def done() -> Any:
        s = (await http.get(f"/sessions/{sid}", headers=api.h())).json()
        return s if s["status"] == "idle" and not s["running"] else None

    return await _until(done)


def test_fifty_concurrent_approvals_of_one_request_run_the_tool_once(tmp_path: Path) -> None:
    api, tool = _asking_api(tmp_path)

    async def main() -> list[httpx.Response]:
        async with _http(api) as http:
            sid, ap = await _start_waiting_session(http, api)
            who = ["a_admin", "a_member", "a_reviewer"]
            responses = await asyncio.gather(
                *(
                    http.post(
                        f"/sessions/{sid}/approve",
                        json={"approval_id": ap, "decision": "once"},
                        headers=api.h(who[i % 3]),
                    )
                    for i in range(50)
                )
            )
            session = await _idle(http, api, sid)
            assert session["result"].startswith("done: appended")
            return list(responses)

    responses = asyncio.run(main())
    assert sorted(r.status_code for r in responses) == [200] + [409] * 49
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"already_decided"}
    assert tool.runs == 1 and (tmp_path / "ws" / "a.txt").read_text() == "ran\n"


def test_deny_with_a_message_reaches_the_model_and_the_tool_never_runs(tmp_path: Path) -> None:
    api, tool = _asking_api(tmp_path)

    async def main() -> dict[str, Any]:
        async with _http(api) as http:
            sid, ap = await _start_waiting_session(http, api)
            r = await http.post(
                f"/sessions/{sid}/approve",
                headers=api.h("a_reviewer"),
                json={"approval_id": ap, "decision": "deny", "message": "not that file"},
            )
            assert r.status_code == 200 and r.json()["status"] == "denied"
            return await _idle(http, api, sid)

    session = asyncio.run(main())
    assert tool.runs == 0 and "not that file" in session["result"]


def test_approval_with_edited_input_runs_the_edited_call(tmp_path: Path) -> None:
    api, _ = _asking_api(tmp_path)

    async def main() -> None:
        async with _http(api) as http:
            sid, ap = await _start_waiting_session(http, api)
            r = await http.post(
                f"/sessions/{sid}/approve",
                headers=api.h(),
                json={"approval_id": ap, "decision": "once", "updated_input": {"path": "b.txt", "line": "edited"}},
            )
            assert r.status_code == 200
            await _idle(http, api, sid)

    asyncio.run(main())
    assert (tmp_path / "ws" / "b.txt").read_text() == "edited\n" and not (tmp_path / "ws" / "a.txt").exists()


def test_two_clients_see_the_same_events_and_the_second_approver_is_told_it_lost(tmp_path: Path) -> None:
    api, tool = _asking_api(tmp_path)

    async def events(http: httpx.AsyncClient, sid: str, who: str) -> list[dict[str, Any]]:
        r = await http.get(f"/sessions/{sid}/events", params={"mode": "poll"}, headers=api.h(who))
        return [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: ")]

    async def main() -> None:
        async with _http(api) as one, _http(api) as two:
            sid, ap = await _start_waiting_session(one, api)
            seen_by_two = await events(two, sid, "a_reviewer")
            assert any(e["type"] == "permission.required" for e in seen_by_two)
            won = await two.post(
                f"/sessions/{sid}/approve", headers=api.h("a_reviewer"), json={"approval_id": ap, "decision": "always"}
            )
            lost = await one.post(
                f"/sessions/{sid}/approve", headers=api.h("a_member"), json={"approval_id": ap, "decision": "deny"}
            )
            assert won.status_code == 200 and lost.status_code == 409
            assert "usr_a_reviewer" in lost.json()["detail"]
            await _idle(one, api, sid)
            a, b = await events(one, sid, "a_admin"), await events(two, sid, "a_reviewer")
            assert a == b and [e["seq"] for e in a] == list(range(1, len(a) + 1))
            resolved = [e for e in a if e["type"] == "permission.resolved"]
            assert len(resolved) == 1 and resolved[0]["data"]["by"] == "usr_a_reviewer"

    asyncio.run(main())
    assert tool.runs == 1


def test_unknown_approval_is_404_and_a_reviewer_may_approve_but_not_prompt(tmp_path: Path) -> None:
    api, _ = _asking_api(tmp_path)

    async def main() -> None:
        async with _http(api) as http:
            sid, _ap = await _start_waiting_session(http, api)
            r = await http.post(
                f"/sessions/{sid}/approve",
                headers=api.h("a_reviewer"),
                json={"approval_id": "ap_nope", "decision": "once"},
            )
            assert r.status_code == 404 and r.json()["code"] == "not_found"
            r = await http.post(f"/sessions/{sid}/messages", headers=api.h("a_reviewer"), json={"prompt": "x"})
            assert r.status_code == 403 and r.json()["code"] == "forbidden"

    asyncio.run(main())


# ------------------------------------------------------------------ staged outputs


class CountingExecutor:
    def __init__(self) -> None:
        self.calls: list[PendingOutput] = []

    async def __call__(self, output: PendingOutput) -> dict[str, Any]:
        self.calls.append(output)
        await asyncio.sleep(0.01)  # a provider round trip, so racing approvals overlap it
        return {"message_id": f"msg-{len(self.calls)}"}


@pytest.mark.parametrize("mix", ["approve", "approve_and_reject"])
def test_fifty_concurrent_decisions_on_one_output_execute_it_at_most_once(tmp_path: Path, mix: str) -> None:
    executor = CountingExecutor()
    api = make_api(tmp_path, output_executor=executor)
    queue: KvOutputQueue = api.app.state.dexa.outputs

    async def main() -> list[httpx.Response]:
        async with _http(api) as http:
            sid = (await http.post("/sessions", json={}, headers=api.h("a_member"))).json()["id"]
            out = await queue.stage(
                org_id="org_a",
                session_id=sid,
                kind="email",
                tool="send_email",
                arguments={"to": "x@example.com", "body": "hi"},
                summary="hello mail",
            )
            base = f"/sessions/{sid}/pending-outputs/{out.id}"
            calls = []
            for i in range(50):
                if mix == "approve_and_reject" and i % 2:
                    calls.append(http.post(f"{base}/reject", json={"reason": f"r{i}"}, headers=api.h("a_reviewer")))
                else:
                    calls.append(
                        http.post(
                            f"{base}/approve",
                            json={"arguments": {"to": "x@example.com", "body": f"edit {i}"}},
                            headers=api.h("a_reviewer"),
                        )
                    )
            responses = await asyncio.gather(*calls)
            final = (await http.get(f"/sessions/{sid}/pending-outputs", headers=api.h())).json()["data"][0]
            winner = next(r.json() for r in responses if r.status_code == 200)
            assert final["status"] == winner["status"] and final["status"] in ("executed", "rejected")
            if final["status"] == "executed":
                assert final["edited"] and final["arguments"]["body"] == executor.calls[0].arguments["body"]
            types = [
                json.loads(line[6:])["type"]
                for line in (
                    await http.get(f"/sessions/{sid}/events", params={"mode": "poll"}, headers=api.h())
                ).text.splitlines()
                if line.startswith("data: ")
            ]
            assert types.count("output.staged") == 1
            assert types.count("output.approved") + types.count("output.rejected") == 1
            return list(responses)

    responses = asyncio.run(main())
    assert sorted(r.status_code for r in responses) == [200] + [409] * 49
    assert len(executor.calls) <= 1 and (mix == "approve_and_reject" or len(executor.calls) == 1)


def test_executor_failure_is_recorded_on_the_output_not_raised(tmp_path: Path) -> None:
    async def broken(output: PendingOutput) -> dict[str, Any]:
        raise RuntimeError("smtp down")

    api = make_api(tmp_path, output_executor=broken)

    async def main() -> dict[str, Any]:
        async with _http(api) as http:
            sid = (await http.post("/sessions", json={}, headers=api.h("a_member"))).json()["id"]
            out = await api.app.state.dexa.outputs.stage(
                org_id="org_a", session_id=sid, kind="email", tool="send_email", arguments={}
            )
            r = await http.post(f"/sessions/{sid}/pending-outputs/{out.id}/approve", json={}, headers=api.h())
            assert r.status_code == 200
            again = await http.post(f"/sessions/{sid}/pending-outputs/{out.id}/approve", json={}, headers=api.h())
            assert again.status_code == 409
            return r.json()

    body = asyncio.run(main())
    assert body["status"] == "failed" and "smtp down" in body["error"]
