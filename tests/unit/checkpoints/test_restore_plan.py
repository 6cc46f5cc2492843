from __future__ import annotations

import asyncio

from dexa.checkpoints.manifest import Checkpoint, Skip, TreeState
from dexa.checkpoints.restore import RestorePlan, find_conflicts, plan_restore
from dexa.checkpoints.retention import segments


def test_plan_writes_differences_deletes_new_files_and_leaves_skipped_ones() -> None:
    target = TreeState(files={"a": "1", "b": "2", "link": "9"}, skipped=[Skip(path="huge", reason="file_cap")])
    current = TreeState(
        files={"a": "1", "b": "22", "new": "5", "huge": "7"},
        skipped=[Skip(path="link", reason="symlink"), Skip(path="later_big", reason="file_cap")],
    )
    plan = plan_restore(target, current)
    assert plan.writes == {"b": "2", "link": "9"}
    assert plan.deletes == ["link", "new"]  # the symlink is removed so the write replaces it
    assert plan.unchanged == 1
    assert [d["path"] for d in plan.left_alone] == ["huge", "later_big"]


def test_only_content_dexa_never_recorded_is_a_conflict() -> None:
    plan = RestorePlan(writes={"a": "1", "b": "2", "c": "3", "gone": "4"}, deletes=["d", "e"])
    current = TreeState(
        files={"a": "latest", "b": "older", "c": "unknown", "d": "external", "e": "latest-e"}, skipped=[]
    )
    latest = TreeState(files={"a": "latest", "e": "latest-e"})
    loads = []

    async def known() -> dict[str, set[str]]:
        loads.append(1)
        return {"b": {"older", "2"}, "c": {"3"}}

    conflicts = asyncio.run(find_conflicts(plan, current, latest, known))
    assert conflicts == ["c", "d"]
    assert loads == [1]
    # When the newest checkpoint explains everything, the history is not even loaded.
    calm = asyncio.run(find_conflicts(RestorePlan(writes={"a": "1"}), current, latest, known))
    assert calm == [] and loads == [1]


def _ck(seq: int, full: bool) -> Checkpoint:
    return Checkpoint(
        id=f"ckpt_{seq:04d}",
        session_id="s",
        seq=seq,
        reason="prompt",
        created_at=seq,
        message_id=None,
        tool_use_id=None,
        manifest_blob="m",
        is_full=full,
        base=None if full else f"ckpt_{seq - 1:04d}",
        full_seq=seq,
    )


def test_segments_start_at_each_full_snapshot() -> None:
    got = segments([_ck(4, True), _ck(2, False), _ck(1, True), _ck(3, False), _ck(5, False)])
    assert [[c.seq for c in s] for s in got] == [[1, 2, 3], [4, 5]]
