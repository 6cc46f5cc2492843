"""One agent-step invocation runs consecutive steps until the turn must park (issue 14 item 4), on the synthesized
state machine executed by moto: fewer transitions and invokes, every step still persisted, crashes still resumed."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sfn_tools import PeekTool
from sfn_world import World

from dexa.adapters.aws import tasks
from dexa.adapters.aws.chain import StepBudget, quick_tools
from dexa.core.errors import StorageError
from dexa.core.ports import Store
from dexa.core.session import Session
from dexa.core.tools import ToolContext, ToolOutput
from dexa.testing.fakes import AppendTool
from dexa.testing.scripted import reply, text, tool_use
from dexa.tools.files import Edit, Read


def _entered(world: World, arn: str) -> list[str]:
    return [e["stateEnteredEventDetails"]["name"] for e in world.history(arn) if "stateEnteredEventDetails" in e]


def _event_types(world: World) -> list[str]:
    events = asyncio.run(world.store.read_events(world.session_id, limit=10_000))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    return [e.type for e in events]


def _reads_then_edit(tmp_path: Path) -> list[Any]:
    (tmp_path / "a.txt").write_text("old a\n")
    return [
        reply(
            "Looking",
            tool_use("Peek", {"path": "a"}),
            tool_use("Peek", {"path": "b"}),
            tool_use("Read", {"file_path": str(tmp_path / "a.txt")}),
        ),
        reply(
            "Editing",
            tool_use("Edit", {"file_path": str(tmp_path / "a.txt"), "old_string": "old", "new_string": "new"}),
        ),
        text("done"),
    ]


def test_reads_and_an_edit_run_in_the_first_invocation_with_every_step_persisted(
    world_factory: Callable[..., World], tmp_path: Path
) -> None:
    peek = PeekTool()
    world = world_factory(_reads_then_edit(tmp_path), [peek, Read(), Edit()])
    info = world.wait(asyncio.run(world.start()), timeout_s=60)
    assert info["status"] == "SUCCEEDED", info

    # begin -> model -> decide -> reads -> model -> decide -> edit -> model -> end: all inside BeginTurn's task.
    assert _entered(world, info["executionArn"]) == ["Turn", "BeginTurn", "Route", "Done", "TurnDone"]
    assert len(world.calls) == 1
    assert sorted(peek.runs) == ["a", "b"] and peek.max_active == 2  # side by side, in-process
    assert (tmp_path / "a.txt").read_text() == "new a\n"
    assert len(world.model.calls) == 3
    session = asyncio.run(world.store.get_session(world.session_id))
    assert session.status == "idle" and session.result == "done" and session.turn_state is None
    types = _event_types(world)
    assert types.count("tool.completed") == 4 and types.count("message.assistant") == 3
    assert types[-2:] == ["turn.completed", "session.idle"]


def test_a_call_with_effects_runs_in_its_own_task_and_the_steps_after_it_in_the_next(
    world_factory: Callable[..., World],
) -> None:
    append = AppendTool()
    world = world_factory(
        [tool_use("Append", {"path": "log.txt", "line": "x"}), tool_use("Peek", {"path": "a"}), text("appended")],
        [append, PeekTool()],
    )
    info = world.wait(asyncio.run(world.start()), timeout_s=60)
    assert info["status"] == "SUCCEEDED", info
    entered = _entered(world, info["executionArn"])
    # Its own RunTools task (its own 15-minute limit, the journaled-retry path); then CallModel carries the rest of
    # the turn (the Peek is quick) to its end.
    assert entered.count("RunTools") == 1 and entered.count("CallModel") == 1 and "EndTurn" not in entered
    assert append.runs == 1 and len(world.model.calls) == 3
    assert asyncio.run(world.store.get_session(world.session_id)).result == "appended"


class _DieAtStep:
    """Store wrapper: persisting the step `step` raises once, as if the Lambda died at that step boundary."""

    def __init__(self, inner: Store, *, step: str, after_write: bool) -> None:
        self._inner, self.step, self.after_write, self.died = inner, step, after_write, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def update_session(self, session: Session, *, expect_version: int | None = None) -> Session:
        state = session.turn_state
        if self.died or state is None or state.step != self.step:
            return await self._inner.update_session(session, expect_version=expect_version)
        self.died = True
        if self.after_write:
            await self._inner.update_session(session, expect_version=expect_version)
        raise StorageError(f"injected: the invocation died persisting step {self.step}")


@pytest.mark.parametrize("after_write", [False, True], ids=["before-write", "after-write"])
def test_a_death_at_a_step_boundary_inside_a_chain_resumes_at_the_persisted_step(
    world_factory: Callable[..., World], tmp_path: Path, after_write: bool
) -> None:
    peek = PeekTool()
    died: list[_DieAtStep] = []

    def wrap(store: Store) -> Store:
        died.append(_DieAtStep(store, step="end_turn", after_write=after_write))
        return died[0]  # type: ignore[return-value]

    world = world_factory(_reads_then_edit(tmp_path), [peek, Read(), Edit()], store_wrapper=wrap)
    info = world.wait(asyncio.run(world.start()), timeout_s=60)
    assert info["status"] == "SUCCEEDED", info
    assert died[0].died
    history = world.history(info["executionArn"])
    assert [e["taskFailedEventDetails"]["error"] for e in history if e["type"] == "TaskFailed"] == ["StorageError"]
    # Nothing ran twice: the retried task found the turn at its last persisted step and went on from there.
    assert len(world.model.calls) == 3 and sorted(peek.runs) == ["a", "b"]
    assert (tmp_path / "a.txt").read_text() == "new a\n"
    types = _event_types(world)
    assert types.count("message.assistant") == 3 and types.count("tool.completed") == 4
    assert asyncio.run(world.store.get_session(world.session_id)).result == "done"


def test_an_invocation_out_of_time_hands_every_step_back_to_the_machine(
    world_factory: Callable[..., World], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spent = StepBudget(until=0.0)
    monkeypatch.setattr(tasks, "StepBudget", type("Spent", (), {"from_context": staticmethod(lambda context: spent)}))
    world = world_factory(_reads_then_edit(tmp_path), [PeekTool(), Read(), Edit()])
    info = world.wait(asyncio.run(world.start()), timeout_s=60)
    assert info["status"] == "SUCCEEDED", info
    entered = _entered(world, info["executionArn"])
    assert entered.count("CallModel") == 3 and entered.count("DecideTools") == 2 and "EndTurn" in entered


def test_the_budget_is_a_share_of_the_time_lambda_gives_the_invocation() -> None:
    class Context:
        def __init__(self, ms: int) -> None:
            self.ms = ms

        def get_remaining_time_in_millis(self) -> int:
            return self.ms

    assert StepBudget.from_context(Context(600_000)).left()
    assert not StepBudget.from_context(Context(0)).left()
    generous = StepBudget.from_context(Context(900_000))
    assert replace(generous, until=generous.until - 540.5).left() is False  # 60% of 900 s


def test_only_allowed_read_only_calls_and_file_edits_run_inside_a_chain() -> None:
    assert quick_tools([("Read", "allowed", True), ("Edit", "allowed", False), ("Write", "allowed", False)])
    assert not quick_tools([("Bash", "allowed", False)])
    assert not quick_tools([("Read", "allowed", True), ("mcp__crm__update", "allowed", False)])
    assert not quick_tools([("Edit", "running", False)])  # found running after a crash: the machine's path


class _SlowAppend(AppendTool):
    """Appends after a pause: the time an operator has to stop the execution under it."""

    def __init__(self) -> None:
        super().__init__()
        self.started = threading.Event()

    async def run(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        self.started.set()
        await asyncio.sleep(1.0)
        return await super().run(tool_input, ctx)


def test_a_stopped_execution_gets_no_steps_after_the_tool_it_was_running(world_factory: Callable[..., World]) -> None:
    append = _SlowAppend()
    world = world_factory([tool_use("Append", {"path": "log.txt", "line": "x"}), text("never said")], [append])
    arn = asyncio.run(world.start())
    assert append.started.wait(30)
    world.sfn.stop_execution(executionArn=arn, error="Stopped", cause="an operator")
    assert world.wait(arn)["status"] == "ABORTED"
    assert append.runs == 1 and len(world.model.calls) == 1  # the task ended with the tool; no model call after
    state = asyncio.run(world.store.get_session(world.session_id)).turn_state
    assert state is not None and state.step == "call_model"  # left for the reconciler to end
