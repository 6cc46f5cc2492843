"""The 25,000-event guard counts history events (issue 14 item 11): each step's estimate is checked against the
history moto records for a turn with two model calls, an approval and a parallel Map."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

from sfn_tools import PeekTool
from sfn_world import World

from dexa.adapters.aws import asl
from dexa.adapters.aws.moto_harness import ACCOUNT, REGION
from dexa.testing.fakes import AppendTool, RulePolicy
from dexa.testing.scripted import reply, text, tool_use

_STEPS = {"BeginTurn", "CallModel", "DecideTools", "AwaitApproval", "PlanTools", "RunTools", "EndTurn"}


def _pending_token(world: World) -> object:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        pending = asyncio.run(world.store.list_approvals(world.session_id, status="pending"))
        if any(a.task_token for a in pending):
            return pending[0]
        time.sleep(0.02)
    raise AssertionError("no approval was parked")


def test_each_steps_history_estimate_covers_the_events_recorded_so_far(world_factory: Callable[..., World]) -> None:
    world = world_factory(
        [
            reply(
                "Looking",
                *(tool_use("Peek", {"path": p}) for p in "abc"),
                tool_use("Append", {"path": "l", "line": "x"}),
            ),
            text("finished"),
        ],
        [PeekTool(), AppendTool()],
        policy=RulePolicy(ask={"Append"}),
        chain=False,  # one step per task: the machine's own Map/RunTools path, task by task
    )
    arn = asyncio.run(world.start())
    approval = _pending_token(world)
    decided, _ = asyncio.run(world.engine.resolve_approval(world.session_id, approval.id, allow=True))  # type: ignore[attr-defined]
    asyncio.run(world.driver.approvals.notify(decided))
    assert world.wait(arn)["status"] == "SUCCEEDED"

    history = world.history(arn)
    checked = 0
    for position, event in enumerate(history, start=1):
        details = event.get("stateExitedEventDetails")
        if event["type"] != "TaskStateExited" or details["name"] not in _STEPS:
            continue
        estimate = json.loads(details["output"])["last"]["history"]
        # The estimate already counts the Route choice that follows (+2) and, after PlanTools, the Map it planned.
        assert position <= estimate <= position + 60, (details["name"], position, estimate)
        checked += 1
    assert checked >= 8
    final = max(
        json.loads(e["stateExitedEventDetails"]["output"])["last"]["history"]
        for e in history
        if e["type"] == "TaskStateExited" and e["stateExitedEventDetails"]["name"] in _STEPS
    )
    assert len(history) - 10 <= final <= len(history) + 20, (final, len(history))


def test_a_turn_past_the_history_budget_continues_in_a_fresh_execution(world_factory: Callable[..., World]) -> None:
    fn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:AgentStepA5575881"
    world = world_factory(
        [tool_use("Append", {"path": "a", "line": "1"}), text("done")],
        [AppendTool()],
        # BeginTurn (10 events, chaining up to the Append), PlanTools (19) and RunTools (26) pass it: RunTools leaves
        # the next model call to Route, which continues the turn in a fresh execution.
        asl_override=asl.turn_definition_json(step_function_arn=fn, history_budget=20),
    )
    first = asyncio.run(world.start())
    assert world.wait(first)["status"] == "SUCCEEDED"
    entered = [e["stateEnteredEventDetails"]["name"] for e in world.history(first) if "stateEnteredEventDetails" in e]
    assert "ContinueAsNew" in entered and entered.count("CallModel") == 0
    assert len(world.model.calls) == 1  # the second model call was left to the fresh execution
    info = world.wait(first + "-c1")
    assert info["status"] == "SUCCEEDED"
    assert asyncio.run(world.store.get_session(world.session_id)).result == "done"
