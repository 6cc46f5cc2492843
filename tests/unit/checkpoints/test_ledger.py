from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dexa.adapters.sqlite import SqliteStore
from dexa.checkpoints.ledger import SideEffectLedger, record_side_effect
from dexa.core.errors import DexaError


def test_entries_carry_the_checkpoint_current_when_they_were_recorded(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")

    async def main() -> None:
        ledger = SideEffectLedger(store)
        first = await record_side_effect(store, "s1", kind="message_posted", summary="Posted to #eng")
        assert first["checkpoint_id"] is None and first["checkpoint_seq"] == 0 and first["reversible"] is False
        await store.kv_put("checkpoint_heads", "s1", {"seq": 4, "id": "ckpt_0004"})
        second = await ledger.record(
            "s1", kind="pr_created", summary="PR #1", compensation={"action": "close_pr", "args": {"number": 1}}
        )
        assert second.checkpoint_id == "ckpt_0004" and second.compensation == {
            "action": "close_pr",
            "args": {"number": 1},
        }
        assert [e.kind for e in await ledger.list("s1")] == ["message_posted", "pr_created"]
        assert [e.kind for e in await ledger.after("s1", 4)] == ["pr_created"]
        assert [e.kind for e in await ledger.after("s1", 5)] == []
        assert await ledger.list("s2") == []

    asyncio.run(main())


@pytest.mark.parametrize(
    ("kind", "summary", "compensation", "message"),
    [
        ("", "x", None, "kind must be a word"),
        ("pr created!", "x", None, "kind must be a word"),
        ("pr_created", "", None, "summary is required"),
        ("pr_created", "x", {"action": 3}, "compensation.action must be a string"),
        ("pr_created", "x", {"action": "close_pr", "args": [1]}, "compensation.args must be an object"),
    ],
)
def test_bad_entries_are_refused_with_the_field_named(
    tmp_path: Path, kind: str, summary: str, compensation: dict[str, object] | None, message: str
) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")
    with pytest.raises(DexaError, match=message):
        asyncio.run(record_side_effect(store, "s1", kind=kind, summary=summary, compensation=compensation))
