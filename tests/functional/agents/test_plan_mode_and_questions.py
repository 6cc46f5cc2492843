"""Plan mode (EnterPlanMode / ExitPlanMode approval / mode switch) and AskUserQuestion through the real engine."""

from __future__ import annotations

import asyncio
from pathlib import Path

from subagent_harness import Harness, make

from dexa.agents import answer_question
from dexa.core.driver import InProcessDriver
from dexa.core.events import EventType
from dexa.core.session import SessionConfig
from dexa.testing.fakes import RulePolicy
from dexa.testing.scripted import ScriptedModel, text, tool_use

PLAN = "1. Add the flag\n2. Write the test"
QUESTIONS = {
    "questions": [
        {
            "question": "Which database should we use?",
            "header": "Database",
            "multiSelect": False,
            "options": [{"label": "SQLite", "description": "embedded"}, {"label": "Postgres", "description": "server"}],
        },
    ]
}


async def _wait_for(h: Harness, predicate, session_id: str = "s1"):
    for _ in range(500):
        for event in await h.events(session_id):
            if predicate(event):
                return event
        await asyncio.sleep(0.01)
    raise AssertionError("event never arrived")


def test_plan_mode_then_exit_plan_mode_approval_switches_back_to_execution(tmp_path: Path) -> None:
    planner = ScriptedModel([tool_use("ExitPlanMode", {"plan": PLAN})], name="planner")
    h, parent, _ = make(
        tmp_path,
        parent=[tool_use("EnterPlanMode"), tool_use("Append", {"path": "x.txt", "line": "executing"}), text("done")],
        child=[],
        plan_model=planner,
    )

    async def main() -> None:
        await h.start("build it", mode="acceptEdits")
        task = asyncio.create_task(InProcessDriver(h.engine).run("s1"))
        required = await _wait_for(h, lambda e: e.type == EventType.PERMISSION_REQUIRED)
        assert required.data["tool_name"] == "ExitPlanMode" and required.data["input"]["plan"] == PLAN
        assert (await h.store.get_session("s1")).permission_mode == "plan"
        await h.engine.resolve_approval("s1", required.data["approval_id"], allow=True, by="reviewer")
        await asyncio.wait_for(task, 10)

    asyncio.run(main())
    session = asyncio.run(h.store.get_session("s1"))
    assert session.permission_mode == "acceptEdits"  # back to the mode before planning
    changes = [
        (e.data["from"], e.data["to"]) for e in asyncio.run(h.events()) if e.type == EventType.PERMISSION_MODE_CHANGED
    ]
    assert changes == [("acceptEdits", "plan"), ("plan", "acceptEdits")]
    approved = parent.calls[1].messages[-1].tool_results[0]
    assert "User has approved your plan" in approved.content and PLAN in approved.content
    # While in plan mode the plan model answered; after approval the execution model took over.
    assert len(planner.calls) == 1 and len(parent.calls) == 3
    assert (h.root / "x.txt").read_text() == "executing\n"


def test_a_rejected_plan_keeps_the_session_in_plan_mode(tmp_path: Path) -> None:
    h, parent, _ = make(tmp_path, parent=[tool_use("ExitPlanMode", {"plan": PLAN}), text("revising")], child=[])

    async def main() -> None:
        await h.start("build it", mode="plan")
        task = asyncio.create_task(InProcessDriver(h.engine).run("s1"))
        required = await _wait_for(h, lambda e: e.type == EventType.PERMISSION_REQUIRED)
        await h.engine.resolve_approval("s1", required.data["approval_id"], allow=False, message="smaller steps")
        await asyncio.wait_for(task, 10)

    asyncio.run(main())
    assert asyncio.run(h.store.get_session("s1")).permission_mode == "plan"
    result = parent.calls[1].messages[-1].tool_results[0]
    assert result.is_error and "smaller steps" in result.content


def test_exit_plan_mode_is_never_auto_approved_by_a_rule(tmp_path: Path) -> None:
    h, _, _ = make(
        tmp_path,
        parent=[tool_use("ExitPlanMode", {"plan": PLAN}), text("x")],
        child=[],
        policy=RulePolicy(allow={"ExitPlanMode"}),
    )

    async def main() -> None:
        await h.start("go", mode="plan")
        await InProcessDriver(h.engine).run("s1", wait_for_approvals=False)

    asyncio.run(main())
    pending = asyncio.run(h.store.list_approvals("s1", status="pending"))
    assert [a.tool_name for a in pending] == ["ExitPlanMode"]


def test_ask_user_question_is_answered_by_a_client_through_one_question_prompt(tmp_path: Path) -> None:
    h, parent, _ = make(
        tmp_path,
        parent=[tool_use("AskUserQuestion", QUESTIONS), text("using it")],
        child=[],
        policy=RulePolicy(ask={"AskUserQuestion"}),
    )

    async def main() -> None:
        await h.start("set up storage")
        task = asyncio.create_task(InProcessDriver(h.engine).run("s1"))
        asked = await _wait_for(h, lambda e: e.type == EventType.PERMISSION_REQUIRED and e.data["kind"] == "question")
        assert asked.data["questions"][0]["header"] == "Database"
        pending = await h.store.list_approvals("s1", status="pending")
        assert [(a.kind, a.id) for a in pending] == [("question", asked.data["question_id"])]
        _, won = await answer_question(
            h.engine, "s1", asked.data["question_id"], {"Which database should we use?": "Postgres"}, by="web"
        )
        assert won
        await asyncio.wait_for(task, 10)

    asyncio.run(main())
    result = parent.calls[1].messages[-1].tool_results[0]
    assert not result.is_error
    assert result.content.startswith('User has answered your questions: "Which database should we use?"="Postgres"')


def test_ask_user_question_in_headless_mode_is_answered_by_policy(tmp_path: Path) -> None:
    h, parent, _ = make(
        tmp_path,
        parent=[tool_use("AskUserQuestion", QUESTIONS), text("ok")],
        child=[],
        policy=RulePolicy(ask={"AskUserQuestion"}),
    )
    config = SessionConfig(headless=True, extra={"ask_user_answers": "first"})
    session = asyncio.run(h.run("go", config=config))
    assert session.status == "idle"
    result = parent.calls[1].messages[-1].tool_results[0]
    assert not result.is_error and '"Which database should we use?"="SQLite"' in result.content


def test_ask_user_question_in_headless_mode_without_a_policy_is_a_reported_denial(tmp_path: Path) -> None:
    h, parent, _ = make(
        tmp_path,
        parent=[tool_use("AskUserQuestion", QUESTIONS), text("ok")],
        child=[],
        policy=RulePolicy(ask={"AskUserQuestion"}),
    )
    asyncio.run(h.run("go", config=SessionConfig(headless=True)))
    result = parent.calls[1].messages[-1].tool_results[0]
    assert result.is_error
    done = next(e for e in asyncio.run(h.events()) if e.type == EventType.TURN_COMPLETED)
    assert done.data["permission_denials"][0]["tool_name"] == "AskUserQuestion"


def test_an_unanswered_question_times_out_and_the_agent_moves_on(tmp_path: Path) -> None:
    h, parent, _ = make(tmp_path, parent=[tool_use("AskUserQuestion", QUESTIONS), text("assuming")], child=[])
    tool = next(t for t in h.ext.tools if t.spec.name == "AskUserQuestion")
    tool.timeout_s, tool.poll_s = 0.2, 0.05  # type: ignore[attr-defined]
    asyncio.run(h.run("go"))
    result = parent.calls[1].messages[-1].tool_results[0]
    assert result.is_error and "did not answer" in result.content
