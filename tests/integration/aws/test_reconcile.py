"""Executions that die outside the machine's own Catch end their session's turn as an error (issue 14 item 10).

The reconciler gets what EventBridge delivers for "Step Functions Execution Status Change" (built here from the
execution moto ran), or sweeps the machine's recent dead executions.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from sfn_tools import BlockingTool
from sfn_world import World

from dexa.adapters.aws.reconcile import STATUS_CHANGE, Reconciler
from dexa.adapters.aws.sfn import EXECUTIONS_NS
from dexa.testing.scripted import text, tool_use

# A machine whose every execution fails without a Catch: what a States.Runtime error does on AWS.
_DIES = json.dumps({"StartAt": "Die", "States": {"Die": {"Type": "Fail", "Error": "States.Runtime", "Cause": "x"}}})


def _status_change(world: World, arn: str) -> dict[str, Any]:
    info = world.sfn.describe_execution(executionArn=arn)
    return {
        "version": "0",
        "source": "aws.states",
        "detail-type": STATUS_CHANGE,
        "detail": {
            "executionArn": arn,
            "stateMachineArn": info["stateMachineArn"],
            "name": info["name"],
            "status": info["status"],
            "input": info.get("input"),
            "error": info.get("error"),
            "cause": info.get("cause"),
        },
    }


def _reconciler(world: World) -> Reconciler:
    return Reconciler(world.engine, world.sfn, world.driver.state_machine_arn)


def _types(world: World) -> list[str]:
    events = asyncio.run(world.store.read_events(world.session_id, limit=10_000))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    return [e.type for e in events]


def test_a_failed_execution_ends_its_turn_as_an_error(world_factory: Callable[..., World]) -> None:
    world = world_factory([text("never")], [], asl_override=_DIES)
    arn = asyncio.run(world.start())
    assert world.wait(arn)["status"] == "FAILED"
    session = asyncio.run(world.store.get_session(world.session_id))
    assert session.status == "running" and session.turn_state is not None  # what the review found

    out = asyncio.run(_reconciler(world).handle(_status_change(world, arn)))
    assert out["action"] == "failed"
    session = asyncio.run(world.store.get_session(world.session_id))
    assert session.status == "failed" and session.turn_state is None and "failed" in session.error
    assert "States.Runtime" in session.error
    assert _types(world)[-3:] == ["error", "turn.failed", "session.idle"]

    again = asyncio.run(_reconciler(world).handle(_status_change(world, arn)))  # EventBridge delivers at least once
    assert again["action"].startswith("ignored") and _types(world).count("turn.failed") == 1


def test_the_sweep_finds_a_dead_execution_whose_event_was_never_delivered(world_factory: Callable[..., World]) -> None:
    world = world_factory([text("never")], [], asl_override=_DIES)
    arn = asyncio.run(world.start())
    assert world.wait(arn)["status"] == "FAILED"
    out = asyncio.run(_reconciler(world).handle({"sweep": True}))
    assert {"execution_arn": arn, "session_id": world.session_id, "action": "failed"} in out["reconciled"]
    assert asyncio.run(world.store.get_session(world.session_id)).status == "failed"


def test_an_execution_stopped_from_outside_ends_the_turn_and_kills_the_running_tool(
    world_factory: Callable[..., World],
) -> None:
    tool = BlockingTool()
    world = world_factory([tool_use("Build", {"path": "."}), text("unreachable")], [tool])
    arn = asyncio.run(world.start())
    assert tool.started.wait(20)
    world.sfn.stop_execution(executionArn=arn, error="Operator", cause="stopped in the console")
    # AWS reports ABORTED at once (the Lambda runs on regardless); moto waits for the running task to return first,
    # so the event is built as AWS would send it.
    event = _status_change(world, arn)
    event["detail"].update(status="ABORTED", error="Operator", cause="stopped in the console")

    out = asyncio.run(_reconciler(world).handle(event))
    assert out["action"] == "failed"
    assert tool.cancelled.wait(2.0) and not tool.finished  # the step still running learns its turn is over
    assert world.wait(arn)["status"] == "ABORTED"
    time.sleep(0.75)
    session = asyncio.run(world.store.get_session(world.session_id))
    assert session.status == "failed" and session.turn_state is None
    (record,) = asyncio.run(world.store.list_tool_records(world.session_id))
    assert record.status == "interrupted"
    types = _types(world)
    assert types[-3:] == ["error", "turn.failed", "session.idle"] and "tool.completed" not in types


def test_an_old_execution_of_a_turn_a_newer_one_drives_is_left_alone(world_factory: Callable[..., World]) -> None:
    world = world_factory([text("never")], [], asl_override=_DIES)
    arn = asyncio.run(world.start())
    assert world.wait(arn)["status"] == "FAILED"
    asyncio.run(world.store.kv_put(EXECUTIONS_NS, world.session_id, {"arn": arn + "-r1", "name": "x", "turn": 1}))
    out = asyncio.run(_reconciler(world).handle(_status_change(world, arn)))
    assert out["action"] == "ignored: a newer execution drives this turn"
    assert asyncio.run(world.store.get_session(world.session_id)).status == "running"
