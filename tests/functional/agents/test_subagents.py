"""Subagents through the real turn engine: own context, distilled result, no nesting, approvals via the parent."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from subagent_harness import make

from dexa.core.events import EventType
from dexa.core.ports import HookOutcome
from dexa.testing.fakes import RulePolicy
from dexa.testing.scripted import text, tool_use

TASK = {
    "description": "Count log lines",
    "prompt": "Append a line to log.txt and report back.",
    "subagent_type": "general-purpose",
}


def test_subagent_runs_in_its_own_context_and_returns_its_final_text(tmp_path: Path) -> None:
    h, parent, child = make(
        tmp_path,
        parent=[text("warming up"), tool_use("Task", TASK), text("parent done")],
        child=[tool_use("Append", {"path": "log.txt", "line": "from child"}), text("DISTILLED: one line appended")],
    )

    async def main() -> None:
        await h.run("first prompt: private parent history")
        await h.run("now delegate")

    asyncio.run(main())
    first_child_request = child.calls[0]
    assert [m.text for m in first_child_request.messages] == [TASK["prompt"]]
    assert "private parent history" not in repr(first_child_request.messages)
    assert not first_child_request.system.startswith("You are the parent")
    result = parent.calls[2].messages[-1].tool_results[0]
    assert result.content == "DISTILLED: one line appended" and not result.is_error
    # The child's tool calls stay in the child's transcript, not the parent's.
    parent_msgs = asyncio.run(h.store.list_messages("s1"))
    assert not any(u.name == "Append" for m in parent_msgs for u in m.tool_uses)
    assert (h.root / "log.txt").read_text() == "from child\n"
    parent.assert_complete()
    child.assert_complete()


def test_subagent_events_carry_the_parent_tool_use_id_and_the_child_is_a_linked_session(tmp_path: Path) -> None:
    h, parent, _ = make(tmp_path, parent=[tool_use("Task", TASK), text("ok")], child=[text("done")])
    asyncio.run(h.run("go"))
    events = asyncio.run(h.events())
    started = next(e for e in events if e.type == EventType.SUBAGENT_STARTED)
    completed = next(e for e in events if e.type == EventType.SUBAGENT_COMPLETED)
    task_use_id = parent.calls[0].messages and asyncio.run(h.store.list_tool_records("s1"))[0].tool_use_id
    assert started.data["parent_tool_use_id"] == task_use_id == completed.data["parent_tool_use_id"]
    assert started.data["agent_type"] == "general-purpose" and completed.data["result"] == "done"
    child = asyncio.run(h.store.get_session(started.data["agent_id"]))
    assert child.parent_id == "s1" and child.status == "idle"
    assert started.data["agent_id"] in h.envs.released


def test_a_subagent_cannot_spawn_subagents(tmp_path: Path) -> None:
    h, parent, child = make(
        tmp_path,
        parent=[tool_use("Task", TASK), text("ok")],
        child=[tool_use("Task", {"description": "nested", "prompt": "go deeper"}), text("could not nest")],
    )
    asyncio.run(h.run("go"))
    offered = {t.name for t in child.calls[0].tools}
    assert "Task" not in offered and "AskUserQuestion" not in offered and "Append" in offered
    nested = child.calls[1].messages[-1].tool_results[0]
    assert nested.is_error and "No such tool" in nested.content
    sessions = asyncio.run(h.store.list_sessions(org_id="o", limit=50))
    assert len(sessions) == 2  # the parent and one child, never a grandchild
    assert parent.calls[1].messages[-1].tool_results[0].content == "could not nest"


def test_the_plan_subagent_cannot_edit(tmp_path: Path) -> None:
    h, _, child = make(
        tmp_path,
        parent=[tool_use("Task", {**TASK, "subagent_type": "Plan"}), text("ok")],
        child=[tool_use("Append", {"path": "plan.txt", "line": "x"}), text("here is the plan")],
    )
    asyncio.run(h.run("plan it"))
    offered = {t.name for t in child.calls[0].tools}
    assert offered == {"Read"}
    denied = child.calls[1].messages[-1].tool_results[0]
    assert denied.is_error and not (h.root / "plan.txt").exists()
    child_session = asyncio.run(h.store.list_sessions(org_id="o", limit=10))
    assert any(s.parent_id == "s1" and s.permission_mode == "plan" for s in child_session)


def test_a_childs_approval_surfaces_in_the_parent_and_resolving_it_there_lets_the_child_continue(
    tmp_path: Path,
) -> None:
    h, parent, _ = make(
        tmp_path,
        parent=[tool_use("Task", TASK), text("parent done")],
        child=[tool_use("Append", {"path": "log.txt", "line": "approved"}), text("child done")],
        policy=RulePolicy(ask={"Append"}),
    )

    async def main() -> None:
        await h.start("go")
        from dexa.core.driver import InProcessDriver

        task = asyncio.create_task(InProcessDriver(h.engine).run("s1"))
        required = None
        for _ in range(400):
            required = next((e for e in await h.events() if e.type == EventType.PERMISSION_REQUIRED), None)
            if required:
                break
            await asyncio.sleep(0.01)
        assert required is not None and required.data["tool_name"] == "Append"
        assert required.data["child_session_id"].startswith("sub_") and required.data["subagent"] is True
        assert not (h.root / "log.txt").exists()
        pending = await h.store.list_approvals("s1", status="pending")
        assert [a.id for a in pending] == [required.data["approval_id"]]
        await h.engine.resolve_approval("s1", required.data["approval_id"], allow=True, by="tester")
        await asyncio.wait_for(task, 10)
        child_ap = await h.store.get_approval(required.data["child_session_id"], required.data["child_approval_id"])
        assert child_ap is not None and child_ap.status == "allowed" and child_ap.decided_by == "tester"

    asyncio.run(main())
    assert (h.root / "log.txt").read_text() == "approved\n"
    assert h.envs.appends.runs == 1
    assert parent.calls[1].messages[-1].tool_results[0].content == "child done"


def test_resolve_child_approval_by_the_childs_own_id_works_too(tmp_path: Path) -> None:
    h, parent, _ = make(
        tmp_path,
        parent=[tool_use("Task", TASK), text("parent done")],
        child=[tool_use("Append", {"path": "log.txt", "line": "x"}), text("child saw the denial")],
        policy=RulePolicy(ask={"Append"}),
    )

    async def main() -> None:
        await h.start("go")
        from dexa.core.driver import InProcessDriver

        task = asyncio.create_task(InProcessDriver(h.engine).run("s1"))
        required = None
        for _ in range(400):
            required = next((e for e in await h.events() if e.type == EventType.PERMISSION_REQUIRED), None)
            if required:
                break
            await asyncio.sleep(0.01)
        assert required is not None
        _, won = await h.ext.runner.resolve_child_approval(
            "s1", required.data["child_approval_id"], allow=False, by="tester", message="not now"
        )
        assert won
        await asyncio.wait_for(task, 10)
        mirror = await h.store.get_approval("s1", required.data["approval_id"])
        assert mirror is not None and mirror.status == "denied"

    asyncio.run(main())
    assert not (h.root / "log.txt").exists()
    assert parent.calls[1].messages[-1].tool_results[0].content == "child saw the denial"


def test_subagent_stop_hook_fires_and_a_blocking_reason_sends_the_subagent_back_to_work(tmp_path: Path) -> None:
    h, parent, child = make(
        tmp_path,
        parent=[tool_use("Task", TASK), text("ok")],
        child=[text("first answer"), text("better answer")],
    )
    h.hooks.outcomes["SubagentStop"] = [HookOutcome(blocked=True, reason="add more detail")]
    asyncio.run(h.run("go"))
    stops = h.hooks.events("SubagentStop")
    assert len(stops) == 2
    assert stops[0]["agent_type"] == "general-purpose" and stops[0]["last_assistant_message"] == "first answer"
    assert stops[0]["stop_hook_active"] is False and stops[1]["stop_hook_active"] is True
    assert "add more detail" in child.calls[1].messages[-1].text
    assert parent.calls[1].messages[-1].tool_results[0].content == "better answer"
    # The subagent's own turn end does not fire the parent's Stop hook.
    assert len(h.hooks.events("Stop")) == 1


def test_unknown_subagent_type_is_a_tool_error_naming_the_available_agents(tmp_path: Path) -> None:
    h, parent, _ = make(tmp_path, parent=[tool_use("Agent", {**TASK, "subagent_type": "nope"}), text("ok")], child=[])
    asyncio.run(h.run("go"))
    result = parent.calls[1].messages[-1].tool_results[0]
    assert result.is_error and "nope" in result.content and "general-purpose" in result.content


def test_subagent_spend_is_added_to_the_parent_session(tmp_path: Path) -> None:
    h, _, _ = make(tmp_path, parent=[tool_use("Task", TASK), text("ok")], child=[text("done")])
    asyncio.run(h.run("go"))
    events = asyncio.run(h.events())
    completed = next(e for e in events if e.type == EventType.SUBAGENT_COMPLETED)
    child = asyncio.run(h.store.get_session(completed.data["agent_id"]))
    parent = asyncio.run(h.store.get_session("s1"))
    assert child.usage.input_tokens > 0
    assert parent.usage.input_tokens >= child.usage.input_tokens


def test_cancelling_the_parent_cancels_the_waiting_subagent(tmp_path: Path) -> None:
    h, _, _ = make(
        tmp_path,
        parent=[tool_use("Task", TASK)],
        child=[tool_use("Append", {"path": "log.txt", "line": "never"})],
        policy=RulePolicy(ask={"Append"}),
    )

    async def main() -> str:
        from dexa.core.driver import InProcessDriver

        await h.start("go")
        driver = InProcessDriver(h.engine)
        driver.start("s1")
        required = None
        for _ in range(400):
            required = next((e for e in await h.events() if e.type == EventType.PERMISSION_REQUIRED), None)
            if required:
                break
            await asyncio.sleep(0.01)
        assert required is not None
        await driver.cancel("s1")
        return required.data["child_session_id"]

    child_id = asyncio.run(main())
    child_events = [e.type for e in asyncio.run(h.events(child_id))]
    assert EventType.TURN_CANCELLED in child_events
    assert asyncio.run(h.store.get_session(child_id)).turn_state is None
    assert asyncio.run(h.store.get_session("s1")).turn_state is None
    assert not (h.root / "log.txt").exists()


class Crash(BaseException):
    """Stands in for the process dying: no handler in the runtime catches it."""


def test_a_crash_while_the_subagent_waits_resumes_the_same_subagent_after_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dexa.agents.runner import SubagentRunner
    from dexa.core.driver import InProcessDriver

    parent_steps = [tool_use("Task", TASK), text("parent done")]
    child_steps = [tool_use("Append", {"path": "log.txt", "line": "once"}), text("child done")]
    h, _, _ = make(tmp_path, parent=parent_steps, child=child_steps, policy=RulePolicy(ask={"Append"}))

    async def crash(self: SubagentRunner, parent_id: str, child_id: str) -> None:
        raise Crash

    async def first_process() -> None:
        await h.start("go")
        await InProcessDriver(h.engine).run("s1")

    with monkeypatch.context() as patch, pytest.raises(Crash):
        patch.setattr(SubagentRunner, "_wait", crash)
        asyncio.run(first_process())
    required = next(e for e in asyncio.run(h.events()) if e.type == EventType.PERMISSION_REQUIRED)

    # A new process: fresh engine, extensions and models over the same store; the child's script resumes.
    h2, parent2, _child2 = make(
        tmp_path, parent=parent_steps[1:], child=child_steps[1:], policy=RulePolicy(ask={"Append"})
    )

    async def second_process() -> None:
        await h2.engine.resolve_approval("s1", required.data["approval_id"], allow=True, by="tester")
        await asyncio.wait_for(InProcessDriver(h2.engine).run("s1"), 10)

    asyncio.run(second_process())
    assert (h2.root / "log.txt").read_text() == "once\n"
    assert parent2.calls[0].messages[-1].tool_results[0].content == "child done"
    sessions = asyncio.run(h2.store.list_sessions(org_id="o", limit=10))
    assert len(sessions) == 2
