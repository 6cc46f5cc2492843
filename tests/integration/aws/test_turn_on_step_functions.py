"""A whole turn on the CDK-synthesized state machine, executed by moto, each step our handler in-process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from sfn_tools import BlockingTool, JournaledTool, PeekTool
from sfn_world import World

from dexa.adapters.aws import asl
from dexa.adapters.aws.moto_harness import ACCOUNT, REGION
from dexa.adapters.aws.tasks import CANCEL_POLL_S
from dexa.core.errors import ConflictError, ModelRateLimitError, StorageError
from dexa.core.ports import Store
from dexa.core.session import Approval, ToolRecord
from dexa.testing.fakes import AppendTool, RulePolicy
from dexa.testing.scripted import reply, text, tool_use


def _poll(predicate: Callable[[], Any], *, timeout_s: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"condition not met within {timeout_s}s")


def _contiguous(world: World) -> list[str]:
    events = asyncio.run(world.store.read_events(world.session_id, limit=10_000))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    return [e.type for e in events]


def _token_holder(world: World) -> Approval | None:
    pending = asyncio.run(world.store.list_approvals(world.session_id, status="pending"))
    return next((a for a in pending if a.task_token), None)


def _state_names(history: list[dict[str, Any]], kind: str) -> list[str]:
    key = {"TaskStateEntered": "stateEnteredEventDetails"}.get(kind, "stateEnteredEventDetails")
    return [e[key]["name"] for e in history if e["type"] == kind]


def test_turn_with_two_model_calls_an_approval_and_a_parallel_map(world_factory: Callable[..., World]) -> None:
    peek, append = PeekTool(), AppendTool()
    world = world_factory(
        [
            reply(
                "Looking",
                tool_use("Peek", {"path": "a"}),
                tool_use("Peek", {"path": "b"}),
                tool_use("Append", {"path": "log.txt", "line": "x"}),
            ),
            text("finished"),
        ],
        [peek, append],
        policy=RulePolicy(ask={"Append"}),
    )
    arn = asyncio.run(world.start())
    assert arn.endswith(":ses_1-t1")
    approval = _poll(lambda: _token_holder(world))
    assert asyncio.run(world.driver.start_turn(world.session_id)) == arn  # a retried start finds the same run
    assert world.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING" and append.runs == 0

    decided, won = asyncio.run(world.engine.resolve_approval(world.session_id, approval.id, allow=True, by="alice"))
    assert won and asyncio.run(world.driver.approvals.notify(decided))
    info = world.wait(arn)

    assert info["status"] == "SUCCEEDED", info
    session = asyncio.run(world.store.get_session(world.session_id))
    assert session.status == "idle" and session.result == "finished" and session.turn_state is None
    assert len(world.model.calls) == 2 and append.runs == 1
    assert sorted(peek.runs) == ["a", "b"] and peek.max_active == 2  # the Map really ran them side by side
    history = world.history(arn)
    entered = _state_names(history, "TaskStateEntered")
    assert entered.count("RunTool") == 2 and "WaitForDecision" in entered
    assert any(e["type"] == "MapStateStarted" for e in history)
    types = _contiguous(world)
    assert types.count("permission.required") == 1 and types.count("permission.resolved") == 1
    assert types.count("tool.completed") == 3 and types[-2:] == ["turn.completed", "session.idle"]


class _CrashOnce:
    """Store wrapper: the first matching tool transition raises as if the Lambda died right there."""

    def __init__(self, inner: Store, *, to_status: str, after_write: bool) -> None:
        self._inner, self.to_status, self.after_write, self.crashed = inner, to_status, after_write, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def transition_tool(self, session_id: str, tool_use_id: str, *, from_status: Any, to: ToolRecord) -> bool:
        if to.status != self.to_status or self.crashed:
            return await self._inner.transition_tool(session_id, tool_use_id, from_status=from_status, to=to)
        self.crashed = True
        if self.after_write:
            await self._inner.transition_tool(session_id, tool_use_id, from_status=from_status, to=to)
        raise StorageError(f"injected: the step died while moving {tool_use_id} to {to.status}")


def _crash_test(world_factory: Callable[..., World], *, to_status: str, after_write: bool) -> None:
    tool = JournaledTool()
    crash: list[_CrashOnce] = []

    def wrap(store: Store) -> Store:
        crash.append(_CrashOnce(store, to_status=to_status, after_write=after_write))
        return crash[0]  # type: ignore[return-value]

    world = world_factory([tool_use("Deploy", {"path": "prod"}), text("shipped")], [tool], store_wrapper=wrap)
    info = world.wait(asyncio.run(world.start()))
    assert info["status"] == "SUCCEEDED", info
    assert crash[0].crashed and tool.runs == 1  # resumed, never repeated
    history = world.history(info["executionArn"])
    failures = [e for e in history if e["type"] == "TaskFailed"]
    assert [f["taskFailedEventDetails"]["error"] for f in failures] == ["StorageError"]
    session = asyncio.run(world.store.get_session(world.session_id))
    assert session.result == "shipped"
    result = world.model.calls[1].messages[-1].tool_results[0]
    assert result.content == "deployed prod" and not result.is_error
    assert _contiguous(world).count("tool.completed") == 1


def test_a_step_killed_after_the_tool_ran_is_retried_and_recovers_without_rerunning(
    world_factory: Callable[..., World],
) -> None:
    # The record is still `running` when the step dies, so the retry asks the tool to recover its result.
    _crash_test(world_factory, to_status="done", after_write=False)


def test_a_step_killed_right_after_marking_the_tool_running_runs_it_exactly_once(
    world_factory: Callable[..., World],
) -> None:
    _crash_test(world_factory, to_status="running", after_write=True)


def test_a_model_rate_limit_is_retried_by_the_state_machine(world_factory: Callable[..., World]) -> None:
    world = world_factory([ModelRateLimitError("slow down", status=429), text("after the wait")], [])
    info = world.wait(asyncio.run(world.start()))
    assert info["status"] == "SUCCEEDED", info
    errors = [
        e["taskFailedEventDetails"]["error"] for e in world.history(info["executionArn"]) if e["type"] == "TaskFailed"
    ]
    assert errors == ["ModelRateLimitError"]
    assert asyncio.run(world.store.get_session(world.session_id)).result == "after the wait"
    _contiguous(world)


class _BrokenMessages:
    def __init__(self, inner: Store) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def put_message(self, session_id: str, message: Any) -> bool:
        raise ValueError("disk on fire")


def test_an_unretryable_failure_is_caught_and_recorded_in_the_event_log(world_factory: Callable[..., World]) -> None:
    world = world_factory([text("never")], [], store_wrapper=_BrokenMessages)
    info = world.wait(asyncio.run(world.start()))
    assert info["status"] == "FAILED" and info["error"] == "TurnFailed"
    entered = _state_names(world.history(info["executionArn"]), "TaskStateEntered")
    assert entered[-1] == "RecordFailure"
    events = asyncio.run(world.store.read_events(world.session_id))
    error = next(e for e in events if e.type == "error")
    assert "ValueError" in error.data["message"] and "disk on fire" in error.data["message"]
    assert events[-2].type == "turn.failed"
    session = asyncio.run(world.store.get_session(world.session_id))
    assert session.status == "failed" and session.turn_state is None
    _contiguous(world)


def test_cancel_stops_the_execution_and_kills_the_running_tool_within_one_poll(
    world_factory: Callable[..., World],
) -> None:
    tool = BlockingTool()
    world = world_factory([tool_use("Build", {"path": "."}), text("unreachable")], [tool])
    arn = asyncio.run(world.start())
    assert tool.started.wait(20)
    asyncio.run(world.driver.cancel(world.session_id))
    # The driver has already ended the turn and cleared the flag; the step still finds the turn cancelled.
    assert not asyncio.run(world.store.get_session(world.session_id)).cancel_requested
    assert tool.cancelled.wait(1.0) and not tool.finished  # CANCEL_POLL_S is 0.25 s
    assert world.wait(arn)["status"] == "ABORTED"
    time.sleep(3 * CANCEL_POLL_S)  # anything the stopped step could still write would land by now
    session = asyncio.run(world.store.get_session(world.session_id))
    assert session.turn_state is None and session.status == "idle" and not session.cancel_requested
    (record,) = asyncio.run(world.store.list_tool_records(world.session_id))
    assert record.status == "interrupted"
    types = _contiguous(world)
    assert types[-2:] == ["turn.cancelled", "session.idle"] and "tool.completed" not in types
    assert len(world.model.calls) == 1


def test_a_step_that_outlives_its_cancelled_turn_can_not_write_the_turn_back(
    world_factory: Callable[..., World],
) -> None:
    world = world_factory([text("unused")], [])

    async def main() -> None:
        await world.engine.submit(world.session_id, "go")
        stale = await world.store.get_session(world.session_id)
        assert stale.turn_state is not None
        await world.engine.finish_cancelled(world.session_id)
        with pytest.raises(ConflictError, match="turn 1 already ended"):
            await world.engine.advance(stale, replace(stale.turn_state, step="call_model"))
        session = await world.store.get_session(world.session_id)
        assert session.turn_state is None and session.status == "idle"
        await world.engine.submit(world.session_id, "again")  # the next turn is not affected
        assert (await world.store.get_session(world.session_id)).turn_state.turn == 2  # type: ignore[union-attr]

    asyncio.run(main())


def test_cancel_while_parked_on_an_approval_ends_the_turn_through_the_machine(
    world_factory: Callable[..., World],
) -> None:
    append = AppendTool()
    world = world_factory(
        [tool_use("Append", {"path": "x", "line": "y"}), text("unreachable")],
        [append],
        policy=RulePolicy(ask={"Append"}),
    )
    arn = asyncio.run(world.start())
    _poll(lambda: _token_holder(world))
    asyncio.run(world.driver.cancel(world.session_id))
    info = world.wait(arn)
    assert info["status"] == "SUCCEEDED" and append.runs == 0
    session = asyncio.run(world.store.get_session(world.session_id))
    assert session.turn_state is None and session.status == "idle"
    types = _contiguous(world)
    assert types[-2:] == ["turn.cancelled", "session.idle"]


def test_a_decision_made_before_the_token_exists_still_resumes_the_turn(world_factory: Callable[..., World]) -> None:
    append = AppendTool()
    world = world_factory(
        [tool_use("Append", {"path": "x", "line": "y"}), text("done")], [append], policy=RulePolicy(ask={"Append"})
    )

    async def decide_early() -> None:
        await world.engine.submit(world.session_id, "go")
        for _ in range(3):  # begin_turn, call_model, decide_tools: the approval exists, no execution yet
            await world.engine.step(world.session_id)
        (ap,) = await world.store.list_approvals(world.session_id, status="pending")
        decided, _ = await world.engine.resolve_approval(world.session_id, ap.id, allow=True, by="bob")
        assert not await world.driver.approvals.notify(decided)  # no token to complete yet

    asyncio.run(decide_early())
    info = world.wait(asyncio.run(world.driver.start_turn(world.session_id)))
    assert info["status"] == "SUCCEEDED" and append.runs == 1
    _contiguous(world)


def test_a_long_turn_continues_in_a_fresh_execution(world_factory: Callable[..., World]) -> None:
    fn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:AgentStepA5575881"
    append = AppendTool()
    world = world_factory(
        [tool_use("Append", {"path": "a", "line": "1"}), text("done")],
        [append],
        asl_override=asl.turn_definition_json(step_function_arn=fn, max_model_calls=1),
    )
    first = asyncio.run(world.start())
    assert world.wait(first)["status"] == "SUCCEEDED"
    continued = first + "-c1"
    info = world.wait(continued)
    assert info["status"] == "SUCCEEDED"
    assert asyncio.run(world.store.get_session(world.session_id)).result == "done"
    _contiguous(world)


def test_replaced_approval_keeps_its_token_after_a_decision(world_factory: Callable[..., World]) -> None:
    world = world_factory([text("unused")], [])

    async def main() -> None:
        ap = Approval(
            id="ap1", session_id=world.session_id, tool_use_id="t", tool_name="Bash", input={}, created_at=1.0
        )
        await world.store.put_approval(ap)
        assert await world.store.attach_task_token(world.session_id, "ap1", "tok-1")  # type: ignore[attr-defined]
        assert await world.store.resolve_approval(replace(ap, status="allowed"))
        got = await world.store.get_approval(world.session_id, "ap1")
        assert got is not None and got.status == "allowed" and got.task_token == "tok-1"
        assert not await world.store.attach_task_token(world.session_id, "ap1", "tok-2")  # type: ignore[attr-defined]

    asyncio.run(main())
