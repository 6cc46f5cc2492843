"""A chain of steps in one invocation (tasks.TaskRunner, chain.py) stops once its execution was stopped without a
cancel flag on the session (an operator's StopExecution, the reconciler): it asks DescribeExecution at most every
tasks.EXECUTION_CHECK_S of chaining, so a stopped machine gets no further model calls from a warm invocation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from sfn_tools import PeekTool
from sfn_world import World

from dexa.testing.scripted import reply, text, tool_use


@pytest.fixture
def stop_as_aws_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """On AWS an execution is ABORTED as StopExecution returns; moto marks it only when the task in flight returns,
    so a chain could never see it stopped. Emulate AWS: the status changes at once (the worker stops as before)."""
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.backend.execution import Execution

    stop = Execution.stop

    def stop_now(self: Execution, *args: Any, **kwargs: Any) -> None:
        stop(self, *args, **kwargs)
        self.exec_status = ExecutionStatus.ABORTED

    monkeypatch.setattr(Execution, "stop", stop_now)


@pytest.mark.usefixtures("stop_as_aws_does")
def test_a_chain_stops_after_its_execution_is_stopped(world_factory: Callable[..., World]) -> None:
    peek = PeekTool()  # a lone Peek takes 2 s (it waits for a partner that never comes): quick, yet not instant
    script = [reply(f"look {i}", tool_use("Peek", {"path": str(i)})) for i in range(6)] + [text("never said")]
    world = world_factory(script, [peek])
    arn = asyncio.run(world.start())
    deadline = time.monotonic() + 30
    while not peek.runs and time.monotonic() < deadline:
        time.sleep(0.01)
    assert peek.runs, "the first Peek never ran"
    world.sfn.stop_execution(executionArn=arn, error="Stopped", cause="an operator")
    assert world.wait(arn)["status"] == "ABORTED"
    # Give a chain that ignored the stop the time to run on (each further step pair takes about 2 s).
    time.sleep(5)
    assert len(peek.runs) <= 2, peek.runs
    assert len(world.model.calls) <= 2, len(world.model.calls)
