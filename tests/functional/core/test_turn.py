"""The durable turn end to end over the SQLite store, a scripted model and a plain workspace."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from dexa.adapters.sqlite import SqliteStore
from dexa.core.driver import InProcessDriver
from dexa.core.engine import TurnEngine
from dexa.core.environment import SessionEnv
from dexa.core.errors import ModelUnavailableError
from dexa.core.session import Session, SessionConfig
from dexa.core.tools import ToolRegistry
from dexa.testing.fakes import AppendTool, DirWorkspace, RulePolicy, StaticEnvs
from dexa.testing.scripted import ScriptedModel, reply, text, tool_use


def _setup(tmp_path: Path, steps, *, policy=None, can_prompt=True, config=None, window=200_000, loop=5):
    store = SqliteStore(tmp_path / "db.sqlite")
    tool = AppendTool()
    model = ScriptedModel(steps)
    env = SessionEnv(
        model=model,
        tools=ToolRegistry([tool]),
        policy=policy or RulePolicy(),
        workspace=DirWorkspace(tmp_path),
        system_prompt="sys",
        can_prompt=can_prompt,
        context_window=window,
        loop_threshold=loop,
    )
    engine = TurnEngine(store, StaticEnvs(env))
    session = Session(
        id="s1",
        org_id="o",
        user_id="u",
        cwd=str(tmp_path),
        model="scripted",
        config=config or SessionConfig(),
        created_at=time.time(),
    )
    asyncio.run(store.create_session(session))
    return store, engine, tool, model


async def _turn(engine: TurnEngine, prompt: str = "go") -> Session:
    await engine.submit("s1", prompt)
    return await InProcessDriver(engine).run("s1", wait_for_approvals=False)


def _seqs(store: SqliteStore) -> list[int]:
    return [e.seq for e in asyncio.run(store.read_events("s1", limit=10_000))]


def test_text_turn_completes_with_contiguous_events(tmp_path: Path) -> None:
    store, engine, _, model = _setup(tmp_path, [text("hello there")])
    session = asyncio.run(_turn(engine))
    assert session.status == "idle" and session.result == "hello there" and session.turn_state is None
    seqs = _seqs(store)
    assert seqs == list(range(1, len(seqs) + 1))
    types = [e.type for e in asyncio.run(store.read_events("s1"))]
    assert types[0] == "turn.started" and "turn.completed" in types and "message.delta" in types
    model.assert_complete()


def test_allowed_tool_runs_once_and_result_reaches_model(tmp_path: Path) -> None:
    _store, engine, tool, model = _setup(tmp_path, [tool_use("Append", {"path": "log.txt", "line": "1"}), text("ok")])
    asyncio.run(_turn(engine))
    assert tool.runs == 1
    assert (tmp_path / "log.txt").read_text() == "1\n"
    results = model.calls[1].messages[-1].tool_results
    assert results and not results[0].is_error and "appended" in results[0].content


def test_denied_tool_is_never_executed(tmp_path: Path) -> None:
    _store, engine, tool, model = _setup(
        tmp_path,
        [tool_use("Append", {"path": "x", "line": "rm -rf /"}), text("done")],
        policy=RulePolicy(deny={"Append"}),
    )
    asyncio.run(_turn(engine))
    assert tool.runs == 0
    result = model.calls[1].messages[-1].tool_results[0]
    assert result.is_error and "denied" in result.content


def test_headless_ask_becomes_reported_denial(tmp_path: Path) -> None:
    store, engine, tool, _ = _setup(
        tmp_path,
        [tool_use("Append", {"path": "x", "line": "y"}), text("done")],
        policy=RulePolicy(ask={"Append"}),
        can_prompt=False,
    )
    asyncio.run(_turn(engine))
    assert tool.runs == 0
    done = next(e for e in asyncio.run(store.read_events("s1")) if e.type == "turn.completed")
    assert done.data["permission_denials"][0]["tool_name"] == "Append"


def test_ask_waits_then_runs_after_approval(tmp_path: Path) -> None:
    store, engine, tool, _ = _setup(
        tmp_path, [tool_use("Append", {"path": "a", "line": "z"}), text("done")], policy=RulePolicy(ask={"Append"})
    )

    async def main() -> Session:
        await engine.submit("s1", "go")
        driver = InProcessDriver(engine)
        task = asyncio.create_task(driver.run("s1"))
        for _ in range(200):
            pending = await store.list_approvals("s1", status="pending")
            if pending:
                break
            await asyncio.sleep(0.01)
        assert tool.runs == 0
        await engine.resolve_approval("s1", pending[0].id, allow=True, by="tester")
        return await asyncio.wait_for(task, 10)

    session = asyncio.run(main())
    assert tool.runs == 1 and session.result == "done"


def test_fifty_concurrent_approvals_execute_once(tmp_path: Path) -> None:
    store, engine, tool, _ = _setup(
        tmp_path, [tool_use("Append", {"path": "a", "line": "z"}), text("done")], policy=RulePolicy(ask={"Append"})
    )

    async def main() -> list[bool]:
        await engine.submit("s1", "go")
        driver = InProcessDriver(engine)
        await driver.run("s1", wait_for_approvals=False)
        (ap,) = await store.list_approvals("s1", status="pending")
        wins = await asyncio.gather(*(engine.resolve_approval("s1", ap.id, allow=True, by=f"u{i}") for i in range(50)))
        await driver.run("s1")
        return [w for _, w in wins]

    wins = asyncio.run(main())
    assert wins.count(True) == 1 and tool.runs == 1


def test_tool_found_running_after_crash_is_reported_interrupted_not_rerun(tmp_path: Path) -> None:
    store, engine, tool, model = _setup(tmp_path, [tool_use("Append", {"path": "a", "line": "z"}), text("done")])

    async def main() -> None:
        await engine.submit("s1", "go")
        for _ in range(3):  # begin_turn, call_model, decide_tools
            await engine.step("s1")
        session = await store.get_session("s1")
        assert session.turn_state is not None and session.turn_state.step == "run_tools"
        (rec,) = await store.list_tool_records("s1")
        from dataclasses import replace

        await store.transition_tool("s1", rec.tool_use_id, from_status=["allowed"], to=replace(rec, status="running"))
        await InProcessDriver(engine).run("s1")

    asyncio.run(main())
    assert tool.runs == 0
    result = model.calls[1].messages[-1].tool_results[0]
    assert result.is_error and "interrupted" in result.content


def test_max_turns_ends_with_error_subtype(tmp_path: Path) -> None:
    steps = [tool_use("Append", {"path": "a", "line": str(i)}) for i in range(5)]
    store, engine, tool, _ = _setup(tmp_path, steps, config=SessionConfig(max_turns=2))
    asyncio.run(_turn(engine))
    failed = next(e for e in asyncio.run(store.read_events("s1")) if e.type == "turn.failed")
    assert failed.data["subtype"] == "error_max_turns" and tool.runs == 2


def test_model_outage_fails_turn_but_session_survives_and_resumes(tmp_path: Path) -> None:
    _store, engine, _, _ = _setup(tmp_path, [ModelUnavailableError("overloaded", status=529), text("back")])

    async def main() -> Session:
        session = await _turn(engine)
        assert session.status == "failed" and session.turn_state is not None
        return await InProcessDriver(engine).run("s1")

    session = asyncio.run(main())
    assert session.status == "idle" and session.result == "back"


def test_loop_detection_asks_instead_of_repeating_forever(tmp_path: Path) -> None:
    steps = [tool_use("Append", {"path": "a", "line": "same"}) for _ in range(4)] + [text("done")]

    store, engine, _tool, _ = _setup(tmp_path, steps, loop=3, can_prompt=False)
    # Identical output every time, so the third identical call is a loop, not polling; it is asked (here:
    # headless, so denied). The denial changes the result, so a later call is judged afresh.
    asyncio.run(_turn(engine))
    records = asyncio.run(store.list_tool_records("s1"))
    assert [r.status for r in records] == ["done", "done", "denied", "done"]
    assert records[2].decision["rule"] == "loop-detection"


def test_budget_reached_in_headless_run_ends_with_budget_error(tmp_path: Path) -> None:
    steps = [tool_use("Append", {"path": "a", "line": str(i)}) for i in range(3)] + [text("done")]
    store, engine, _, _ = _setup(tmp_path, steps, config=SessionConfig(max_budget_usd=1e-9), can_prompt=False)
    asyncio.run(_turn(engine))
    failed = next(e for e in asyncio.run(store.read_events("s1")) if e.type == "turn.failed")
    assert failed.data["subtype"] == "error_max_budget_usd"


def test_compaction_summarizes_old_history_and_keeps_recent_prompts(tmp_path: Path) -> None:
    long = "x" * 4000
    steps = [text(long), text(long), text(long), text("SUMMARY"), text("after")]
    store, engine, _, _model = _setup(tmp_path, steps, window=3000)

    async def main() -> None:
        for i in range(4):
            await _turn(engine, f"prompt {i}")

    asyncio.run(main())
    visible = asyncio.run(store.list_messages("s1"))
    assert "SUMMARY" in visible[0].text
    assert any(e.type == "context.compacted" for e in asyncio.run(store.read_events("s1")))
    assert visible[-1].text == "after"


def test_cancel_interrupts_turn_and_history_stays_valid(tmp_path: Path) -> None:
    store, engine, _, _ = _setup(
        tmp_path, [reply("", tool_use("Append", {"path": "a", "line": "b"}), delay_ms=2000), text("later")]
    )

    async def main() -> Session:
        await engine.submit("s1", "go")
        driver = InProcessDriver(engine)
        driver.start("s1")
        await asyncio.sleep(0.3)
        await driver.cancel("s1")
        return await store.get_session("s1")

    session = asyncio.run(main())
    assert session.turn_state is None and session.status == "idle"
    assert any(e.type == "turn.cancelled" for e in asyncio.run(store.read_events("s1")))


@pytest.mark.parametrize("n", [1, 8])
def test_concurrent_appenders_never_share_a_seq(tmp_path: Path, n: int) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")

    async def main() -> None:
        await asyncio.gather(*(store.append_event("s", "x", {"i": i}) for i in range(50 * n)))

    asyncio.run(main())
    seqs = [e.seq for e in asyncio.run(store.read_events("s", limit=10_000))]
    assert seqs == list(range(1, 50 * n + 1))
