"""The Store port contract: every adapter (SQLite, DynamoDB under moto) passes these same tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from dexa.core.driver import InProcessDriver
from dexa.core.engine import TurnEngine
from dexa.core.environment import SessionEnv
from dexa.core.errors import ConflictError, NotFoundError
from dexa.core.messages import Message, TextBlock, user_text
from dexa.core.ports import Store
from dexa.core.session import Approval, Session, ToolRecord
from dexa.core.tools import ToolRegistry
from dexa.testing.fakes import AppendTool, DirWorkspace, RulePolicy, StaticEnvs
from dexa.testing.scripted import ScriptedModel, text, tool_use


def _session(sid: str = "s1", *, org: str = "o1", cwd: str = "/w", updated: float = 0.0) -> Session:
    now = updated or time.time()
    return Session(id=sid, org_id=org, user_id="u", cwd=cwd, model="m", created_at=now, updated_at=now)


def _msg(mid: str, body: str = "") -> Message:
    return Message(id=mid, role="assistant", content=(TextBlock(text=body or mid),))


def _record(tid: str, *, turn: int = 1, status: str = "allowed", sid: str = "s1") -> ToolRecord:
    return ToolRecord(session_id=sid, tool_use_id=tid, name="Read", input={"path": "/x"}, turn=turn, status=status)  # type: ignore[arg-type]


def _approval(aid: str, *, sid: str = "s1", created: float = 1.0) -> Approval:
    return Approval(
        id=aid, session_id=sid, tool_use_id=f"tu_{aid}", tool_name="Bash", input={"command": "ls"}, created_at=created
    )


# ---------------------------------------------------------------- sessions


def test_created_session_reads_back_equal_and_only_for_its_org(store: Store) -> None:
    async def main() -> None:
        created = await store.create_session(_session())
        assert await store.get_session("s1") == created
        assert await store.get_session("s1", org_id="o1") == created
        with pytest.raises(NotFoundError):
            await store.get_session("s1", org_id="other")
        with pytest.raises(NotFoundError):
            await store.get_session("nope")

    asyncio.run(main())


def test_creating_the_same_session_twice_conflicts(store: Store) -> None:
    async def main() -> None:
        await store.create_session(_session())
        with pytest.raises(ConflictError):
            await store.create_session(_session())

    asyncio.run(main())


def test_update_bumps_version_and_a_stale_expect_version_conflicts(store: Store) -> None:
    async def main() -> None:
        s = await store.create_session(_session())
        s1 = await store.update_session(replace(s, title="one"), expect_version=0)
        assert s1.version == 1 and (await store.get_session("s1")).title == "one"
        with pytest.raises(ConflictError):
            await store.update_session(replace(s, title="stale"), expect_version=0)
        s2 = await store.update_session(replace(s, title="two"))  # no expectation: last writer wins
        assert s2.version == 2 and (await store.get_session("s1")).title == "two"
        with pytest.raises(NotFoundError):
            await store.update_session(_session("ghost"))

    asyncio.run(main())


def test_concurrent_unconditional_updates_each_bump_the_version_once(store_factory: Callable[[], Store]) -> None:
    stores = [store_factory(), store_factory()]

    async def main() -> int:
        s = await stores[0].create_session(_session())
        await asyncio.gather(*(stores[i % 2].update_session(replace(s, title=str(i))) for i in range(12)))
        return (await stores[1].get_session("s1")).version

    assert asyncio.run(main()) == 12


def test_list_sessions_is_newest_first_scoped_by_org_with_limit_and_cwd(store: Store) -> None:
    async def main() -> None:
        for i in range(5):
            await store.create_session(_session(f"s{i}", cwd="/a" if i % 2 else "/b", updated=1000.0 + i))
        await store.create_session(_session("x", org="o2", updated=2000.0))
        assert [s.id for s in await store.list_sessions(org_id="o1")] == ["s4", "s3", "s2", "s1", "s0"]
        assert [s.id for s in await store.list_sessions(org_id="o1", limit=2)] == ["s4", "s3"]
        assert [s.id for s in await store.list_sessions(org_id="o1", cwd="/a")] == ["s3", "s1"]
        assert [s.id for s in await store.list_sessions(org_id="o1", cwd="/b", limit=1)] == ["s4"]
        assert [s.id for s in await store.list_sessions(org_id="o2")] == ["x"]
        assert await store.list_sessions(org_id="none") == []

    asyncio.run(main())


# ---------------------------------------------------------------- events


def test_delete_session_removes_it_with_everything_it_owns_and_nothing_else(store: Store) -> None:
    async def main() -> None:
        for sid in ("s1", "s2"):
            await store.create_session(_session(sid))
            await store.append_event(sid, "turn.started", {"n": 1})
            await store.put_message(sid, _msg(f"m_{sid}"))
            await store.put_tool_record(_record(f"t_{sid}", sid=sid))
            await store.put_approval(_approval(f"a_{sid}", sid=sid))
        await store.delete_session("s1")
        with pytest.raises(NotFoundError):
            await store.get_session("s1")
        assert [s.id for s in await store.list_sessions(org_id="o1")] == ["s2"]
        assert await store.read_events("s1") == [] and await store.list_messages("s1", include_hidden=True) == []
        assert await store.list_tool_records("s1") == [] and await store.list_approvals("s1") == []
        assert len(await store.read_events("s2")) == 1 and len(await store.list_approvals("s2")) == 1
        await store.delete_session("s1")  # gone already: no error
        # The id is free again (an import retried under a fresh id never collides, but nothing lingers to collide).
        await store.create_session(_session("s1"))
        assert await store.read_events("s1") == []

    asyncio.run(main())


def test_events_are_numbered_from_one_and_read_after_a_cursor(store: Store) -> None:
    async def main() -> None:
        assert await store.last_seq("s1") == 0
        for i in range(7):
            event = await store.append_event("s1", "t", {"i": i, "nested": {"ü": [1, 2.5, None]}})
            assert event.seq == i + 1 and event.data["i"] == i
        await store.append_event("s10", "other", {})  # a session id that extends another must not leak
        assert [e.seq for e in await store.read_events("s1")] == [1, 2, 3, 4, 5, 6, 7]
        assert [e.seq for e in await store.read_events("s1", after=3, limit=2)] == [4, 5]
        assert await store.read_events("s1", after=7) == []
        first = (await store.read_events("s1", limit=1))[0]
        assert first.type == "t" and first.data == {"i": 0, "nested": {"ü": [1, 2.5, None]}} and first.ts > 0
        assert await store.last_seq("s1") == 7 and await store.last_seq("s10") == 1

    asyncio.run(main())


def test_last_seqs_reads_many_sessions_at_once_as_last_seq_reads_each(store: Store) -> None:
    # 130 ids: DynamoDB's batch read takes 100 keys a request, so the sessions past the first 100 are a second one.
    ids = [f"s{i:03d}" for i in range(130)]
    busy = {sid: 1 + i % 3 for i, sid in enumerate(ids) if i % 4 == 0 or i >= 120}

    async def main() -> None:
        assert await store.last_seqs([]) == {}
        for sid, count in busy.items():
            for _ in range(count):
                await store.append_event(sid, "t", {})
        await store.append_event("s000x", "t", {})  # an id that extends an asked one must not leak into it
        got = await store.last_seqs([*ids, "unknown", ids[0]])  # a repeated id is answered once
        assert got == {**{sid: busy.get(sid, 0) for sid in ids}, "unknown": 0}
        assert got == {sid: await store.last_seq(sid) for sid in [*ids, "unknown"]}
        assert await store.last_seqs(["unknown"]) == {"unknown": 0}

    asyncio.run(main())


def test_concurrent_appenders_on_three_handles_never_share_or_skip_a_seq(store_factory: Callable[[], Store]) -> None:
    stores = [store_factory(), store_factory(), store_factory()]

    async def main() -> list[int]:
        made = await asyncio.gather(*(stores[i % 3].append_event("s1", "x", {"i": i}) for i in range(60)))
        assert sorted(e.seq for e in made) == list(range(1, 61))
        return [e.seq for e in await stores[0].read_events("s1", limit=10_000)]

    assert asyncio.run(main()) == list(range(1, 61))


def test_event_payloads_of_any_size_round_trip(store: Store) -> None:
    big = "x" * 300_000

    async def main() -> None:
        await store.append_event("s1", "tool.output", {"content": big})
        (event,) = await store.read_events("s1")
        assert event.data["content"] == big

    asyncio.run(main())


# ---------------------------------------------------------------- messages


def test_put_message_is_idempotent_by_id_and_keeps_insertion_order(store: Store) -> None:
    async def main() -> None:
        assert await store.put_message("s1", user_text("m1", "hi"))
        assert await store.put_message("s1", _msg("z0"))
        assert await store.put_message("s1", _msg("a9"))
        assert not await store.put_message("s1", _msg("m1", "changed"))
        listed = await store.list_messages("s1")
        assert [m.id for m in listed] == ["m1", "z0", "a9"] and listed[0].text == "hi"
        assert await store.list_messages("other") == []

    asyncio.run(main())


def test_concurrent_puts_store_each_message_once(store_factory: Callable[[], Store]) -> None:
    stores = [store_factory(), store_factory()]

    async def main() -> None:
        wins = await asyncio.gather(*(stores[i % 2].put_message("s1", _msg(f"m{i % 10}")) for i in range(30)))
        assert wins.count(True) == 10
        assert sorted(m.id for m in await stores[0].list_messages("s1")) == sorted(f"m{i}" for i in range(10))

    asyncio.run(main())


def test_hide_messages_after_hides_later_messages_but_keeps_them(store: Store) -> None:
    async def main() -> None:
        for mid in ("a", "b", "c", "d"):
            await store.put_message("s1", _msg(mid))
        assert await store.hide_messages_after("s1", "b") == 2
        assert [m.id for m in await store.list_messages("s1")] == ["a", "b"]
        assert [m.id for m in await store.list_messages("s1", include_hidden=True)] == ["a", "b", "c", "d"]
        assert await store.hide_messages_after("s1", "b") == 0
        await store.put_message("s1", _msg("e"))
        assert [m.id for m in await store.list_messages("s1")] == ["a", "b", "e"]
        with pytest.raises(NotFoundError):
            await store.hide_messages_after("s1", "missing")
        assert await store.hide_messages_after("s1", None) == 3
        assert await store.list_messages("s1") == []

    asyncio.run(main())


def test_hide_messages_hides_exactly_the_given_ids(store: Store) -> None:
    async def main() -> None:
        for mid in ("a", "b", "c"):
            await store.put_message("s1", _msg(mid))
        assert await store.hide_messages("s1", ["a", "c", "missing"]) == 2
        assert [m.id for m in await store.list_messages("s1")] == ["b"]
        assert len(await store.list_messages("s1", include_hidden=True)) == 3

    asyncio.run(main())


def test_a_handle_that_listed_before_sees_what_another_handle_added_and_hid(
    store_factory: Callable[[], Store],
) -> None:
    """A warm container keeps the history it read (DynamoStore): what another process wrote since still shows."""
    mine, theirs = store_factory(), store_factory()

    async def main() -> None:
        for mid in ("a", "b", "c"):
            await mine.put_message("s1", _msg(mid))
        assert [m.id for m in await mine.list_messages("s1")] == ["a", "b", "c"]
        await theirs.put_message("s1", _msg("d"))
        await mine.put_message("s1", _msg("e"))  # its guess of the next position is taken by "d": still stored
        assert [m.id for m in await mine.list_messages("s1")] == ["a", "b", "c", "d", "e"]
        assert await theirs.hide_messages_after("s1", "b") == 3  # a rewind through another process
        assert [m.id for m in await mine.list_messages("s1")] == ["a", "b"]
        assert [m.id for m in await mine.list_messages("s1", include_hidden=True)] == ["a", "b", "c", "d", "e"]
        await theirs.hide_messages("s1", ["a"])
        await mine.put_message("s1", _msg("f"))
        assert [m.id for m in await mine.list_messages("s1")] == ["b", "f"]
        assert [m.id for m in await theirs.list_messages("s1")] == ["b", "f"]

    asyncio.run(main())


def test_large_messages_round_trip(store: Store) -> None:
    big = "y" * 450_000

    async def main() -> None:
        await store.put_message("s1", _msg("big", big))
        assert (await store.list_messages("s1"))[0].text == big

    asyncio.run(main())


# ---------------------------------------------------------------- tool records


def test_tool_records_insert_once_and_read_back(store: Store) -> None:
    async def main() -> None:
        assert await store.put_tool_record(_record("t1"))
        assert not await store.put_tool_record(_record("t1", status="done"))
        got = await store.get_tool_record("s1", "t1")
        assert got is not None and got.status == "allowed" and got.input == {"path": "/x"}
        assert await store.get_tool_record("s1", "t2") is None

    asyncio.run(main())


def test_transition_tool_applies_only_from_the_listed_statuses(store: Store) -> None:
    async def main() -> None:
        rec = _record("t1")
        await store.put_tool_record(rec)
        running = replace(rec, status="running")
        assert await store.transition_tool("s1", "t1", from_status=["allowed"], to=running)
        assert not await store.transition_tool("s1", "t1", from_status=["allowed"], to=running)
        done = replace(rec, status="done", result={"content": "ok", "is_error": False})
        assert await store.transition_tool("s1", "t1", from_status=["waiting", "running"], to=done)
        got = await store.get_tool_record("s1", "t1")
        assert got is not None and got.status == "done" and got.result == {"content": "ok", "is_error": False}
        assert not await store.transition_tool("s1", "missing", from_status=["allowed"], to=done)
        assert not await store.transition_tool("s1", "t1", from_status=[], to=done)

    asyncio.run(main())


def test_racing_transitions_have_exactly_one_winner(store_factory: Callable[[], Store]) -> None:
    stores = [store_factory(), store_factory()]

    async def main() -> list[bool]:
        rec = _record("t1")
        await stores[0].put_tool_record(rec)
        return await asyncio.gather(
            *(
                stores[i % 2].transition_tool("s1", "t1", from_status=["allowed"], to=replace(rec, status="running"))
                for i in range(10)
            )
        )

    assert asyncio.run(main()).count(True) == 1


def test_tool_records_list_in_insertion_order_and_by_turn(store: Store) -> None:
    async def main() -> None:
        for tid, turn in (("zz", 1), ("aa", 2), ("mm", 1)):
            await store.put_tool_record(_record(tid, turn=turn))
        assert [r.tool_use_id for r in await store.list_tool_records("s1")] == ["zz", "aa", "mm"]
        assert [r.tool_use_id for r in await store.list_tool_records("s1", turn=1)] == ["zz", "mm"]
        assert await store.list_tool_records("s1", turn=9) == []

    asyncio.run(main())


def test_large_tool_results_round_trip_through_transitions(store: Store) -> None:
    big = "z" * 420_000

    async def main() -> None:
        rec = _record("t1", status="running")
        await store.put_tool_record(rec)
        done = replace(rec, status="done", result={"content": big, "is_error": False})
        assert await store.transition_tool("s1", "t1", from_status=["running"], to=done)
        got = await store.get_tool_record("s1", "t1")
        assert got is not None and got.result is not None and got.result["content"] == big
        small = replace(rec, status="failed", result={"content": "small", "is_error": True})
        assert await store.transition_tool("s1", "t1", from_status=["done"], to=small)
        got = await store.get_tool_record("s1", "t1")
        assert got is not None and got.result == {"content": "small", "is_error": True}

    asyncio.run(main())


# ---------------------------------------------------------------- approvals


def test_approvals_are_decided_exactly_once(store_factory: Callable[[], Store]) -> None:
    stores = [store_factory(), store_factory()]

    async def main() -> None:
        ap = _approval("a1")
        await stores[0].put_approval(replace(ap, task_token="tok"))
        got = await stores[1].get_approval("s1", "a1")
        assert got is not None and got.task_token == "tok" and got.status == "pending"
        wins = await asyncio.gather(
            *(stores[i % 2].resolve_approval(replace(ap, status="allowed", decided_by=f"u{i}")) for i in range(10))
        )
        assert wins.count(True) == 1
        winner = f"u{wins.index(True)}"
        got = await stores[0].get_approval("s1", "a1")
        assert got is not None and got.status == "allowed" and got.decided_by == winner
        assert not await stores[0].resolve_approval(replace(ap, id="missing", status="denied"))
        assert await stores[0].get_approval("s1", "missing") is None

    asyncio.run(main())


def test_approvals_list_by_creation_and_status(store: Store) -> None:
    async def main() -> None:
        await store.put_approval(_approval("b", created=2.0))
        await store.put_approval(_approval("a", created=1.0))
        await store.put_approval(_approval("c", created=3.0))
        await store.put_approval(_approval("x", sid="s2"))
        await store.resolve_approval(replace(_approval("c", created=3.0), status="denied"))
        assert [a.id for a in await store.list_approvals("s1")] == ["a", "b", "c"]
        assert [a.id for a in await store.list_approvals("s1", status="pending")] == ["a", "b"]
        assert [a.id for a in await store.list_approvals("s1", status="denied")] == ["c"]
        # put_approval replaces (the step task stores the task token this way)
        await store.put_approval(replace(_approval("a", created=1.0), task_token="t2"))
        got = await store.get_approval("s1", "a")
        assert got is not None and got.task_token == "t2"

    asyncio.run(main())


# ---------------------------------------------------------------- kv


def test_kv_documents_are_scoped_by_org_and_namespace(store: Store) -> None:
    async def main() -> None:
        await store.kv_put("todos", "k", {"v": 1})
        await store.kv_put("todos", "k", {"v": 2}, org_id="o2")
        await store.kv_put("other", "k", {"v": 3})
        assert await store.kv_get("todos", "k") == {"v": 1}
        assert await store.kv_get("todos", "k", org_id="o2") == {"v": 2}
        assert await store.kv_get("other", "k") == {"v": 3}
        await store.kv_put("todos", "k", {"v": 4})
        assert await store.kv_get("todos", "k") == {"v": 4}
        await store.kv_delete("todos", "k")
        assert await store.kv_get("todos", "k") is None
        assert await store.kv_get("todos", "k", org_id="o2") == {"v": 2}
        await store.kv_delete("todos", "never-there")

    asyncio.run(main())


def test_kv_list_returns_prefix_matches_in_key_order(store: Store) -> None:
    async def main() -> None:
        for key in ("b:2", "a:1", "b:1", "c", "b"):
            await store.kv_put("ns", key, {"key": key})
        await store.kv_put("ns", "b:9", {"key": "other-org"}, org_id="o2")
        assert [d["key"] for d in await store.kv_list("ns")] == ["a:1", "b", "b:1", "b:2", "c"]
        assert [d["key"] for d in await store.kv_list("ns", prefix="b:")] == ["b:1", "b:2"]
        assert [d["key"] for d in await store.kv_list("ns", prefix="b:", org_id="o2")] == ["other-org"]
        assert await store.kv_list("ns", prefix="zz") == []
        assert await store.kv_list("empty") == []

    asyncio.run(main())


def test_kv_list_many_answers_each_prefix_as_kv_list_does(store: Store) -> None:
    async def main() -> None:
        assert await store.kv_list_many("ns", []) == {}
        for key in ("b:2", "a:1", "b:1", "c", "b", "bb:1"):
            await store.kv_put("ns", key, {"key": key})
        await store.kv_put("ns", "b:9", {"key": "other-org"}, org_id="o2")
        await store.kv_put("other", "b:5", {"key": "other-namespace"})
        # Overlapping prefixes each get every match; an unknown one and "" (everything) are answered too.
        prefixes = ["b:", "b", "zz", "", "a:1", "b:"]
        got = await store.kv_list_many("ns", prefixes)
        assert {p: [d["key"] for d in docs] for p, docs in got.items()} == {
            "b:": ["b:1", "b:2"],
            "b": ["b", "b:1", "b:2", "bb:1"],
            "zz": [],
            "": ["a:1", "b", "b:1", "b:2", "bb:1", "c"],
            "a:1": ["a:1"],
        }
        assert got == {p: await store.kv_list("ns", prefix=p) for p in prefixes}
        assert await store.kv_list_many("ns", ["b:"], org_id="o2") == {"b:": [{"key": "other-org"}]}
        assert await store.kv_list_many("empty", ["b:"]) == {"b:": []}

    asyncio.run(main())


def test_kv_list_many_reads_a_whole_page_of_prefixes(store: Store) -> None:
    # More prefixes than DynamoStore queries at once, each with its own documents.
    sids = [f"ses{i:03d}" for i in range(40)]

    async def main() -> None:
        for i, sid in enumerate(sids):
            for seq in range(i % 3):
                await store.kv_put("checkpoints", f"{sid}:{seq:06d}", {"sid": sid, "seq": seq})
        got = await store.kv_list_many("checkpoints", sids)
        assert {sid: [(d["sid"], d["seq"]) for d in docs] for sid, docs in got.items()} == {
            sid: [(sid, seq) for seq in range(i % 3)] for i, sid in enumerate(sids)
        }

    asyncio.run(main())


def test_kv_put_if_absent_has_one_winner(store_factory: Callable[[], Store]) -> None:
    stores = [store_factory(), store_factory()]

    async def main() -> None:
        wins = await asyncio.gather(*(stores[i % 2].kv_put_if_absent("locks", "k", {"by": i}) for i in range(8)))
        assert wins.count(True) == 1
        assert await stores[0].kv_get("locks", "k") == {"by": wins.index(True)}

    asyncio.run(main())


# ---------------------------------------------------------------- a whole turn


def test_a_turn_with_a_tool_runs_identically_on_the_store(store: Store, tmp_path: Path) -> None:
    tool = AppendTool()
    model = ScriptedModel([tool_use("Append", {"path": "log.txt", "line": "1"}), text("all done")])
    env = SessionEnv(
        model=model,
        tools=ToolRegistry([tool]),
        policy=RulePolicy(),
        workspace=DirWorkspace(tmp_path),
        system_prompt="sys",
    )
    engine = TurnEngine(store, StaticEnvs(env))

    async def main() -> Session:
        await store.create_session(_session(cwd=str(tmp_path)))
        await engine.submit("s1", "go")
        return await InProcessDriver(engine).run("s1")

    session = asyncio.run(main())
    assert session.status == "idle" and session.result == "all done" and tool.runs == 1
    events = asyncio.run(store.read_events("s1", limit=10_000))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[-1].type == "session.idle"
    assert [m.role for m in asyncio.run(store.list_messages("s1"))] == ["user", "assistant", "user", "assistant"]
