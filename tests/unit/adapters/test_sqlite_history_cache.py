"""The SQLite store decodes each stored message once (every model step re-reads the whole history), and the cache
never shows a stale history: hidden rows, another connection's writes and a rewritten row are seen as SQL says."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import dexa.adapters.sqlite.store as store_module
from dexa.adapters.sqlite.store import SqliteStore
from dexa.core.messages import Message, TextBlock
from dexa.core.session import Session


def _session(sid: str) -> Session:
    now = time.time()
    return Session(id=sid, org_id="o", user_id="u", cwd="/w", model="m", created_at=now, updated_at=now)


def _msg(mid: str, text: str = "") -> Message:
    return Message(id=mid, role="assistant", content=(TextBlock(text=text or mid),))


@pytest.mark.anyio
async def test_history_is_decoded_once_and_reads_stay_exact(tmp_path: Path) -> None:
    db = tmp_path / "dexa.db"
    store, other = SqliteStore(db), SqliteStore(db)
    await store.create_session(_session("s1"))
    for mid in ("m1", "m2", "m3"):
        await store.put_message("s1", _msg(mid))
    first = await store.list_messages("s1")
    again = await store.list_messages("s1")
    assert [m.id for m in again] == ["m1", "m2", "m3"]
    assert all(a is b for a, b in zip(first, again, strict=True))  # decoded once, not per read

    await other.put_message("s1", _msg("m4"))  # another process appends
    assert [m.id for m in await store.list_messages("s1")] == ["m1", "m2", "m3", "m4"]
    await store.hide_messages_after("s1", "m2")  # a rewind
    assert [m.id for m in await store.list_messages("s1")] == ["m1", "m2"]
    assert [m.id for m in await store.list_messages("s1", include_hidden=True)] == ["m1", "m2", "m3", "m4"]

    # A row rewritten in place (same id and position, new content) is read as it now is.
    other._conn.execute(  # pyright: ignore[reportPrivateUsage]
        "UPDATE messages SET data=replace(data, '\"m1\"}', '\"edited\"}') WHERE session_id='s1' AND id='m1'"
    )
    listed = await store.list_messages("s1")
    assert listed[0].content == (TextBlock(text="edited"),), listed[0]
    store.close()
    other.close()


@pytest.mark.anyio
async def test_the_decode_cache_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "DECODED_MAX", 5)
    store = SqliteStore(tmp_path / "dexa.db")
    await store.create_session(_session("s1"))
    for i in range(12):
        await store.put_message("s1", _msg(f"m{i}"))
    assert [m.id for m in await store.list_messages("s1")] == [f"m{i}" for i in range(12)]
    assert len(store._decoded) <= 5  # pyright: ignore[reportPrivateUsage]
    store.close()


@pytest.mark.anyio
async def test_sessions_and_tool_records_are_decoded_once_and_read_as_stored(tmp_path: Path) -> None:
    from dataclasses import replace

    from dexa.core.session import ToolRecord

    db = tmp_path / "dexa.db"
    store, other = SqliteStore(db), SqliteStore(db)
    await store.create_session(_session("s1"))
    first, again = await store.get_session("s1"), await store.get_session("s1")
    assert first is again  # one decode while the row is unchanged
    updated = await other.update_session(replace(first, title="renamed"))  # another process writes
    seen = await store.get_session("s1")
    assert (seen.title, seen.version) == ("renamed", updated.version)

    record = ToolRecord(session_id="s1", tool_use_id="t1", name="Bash", input={"command": "ls"}, turn=1)
    await store.put_tool_record(record)
    one, two = await store.list_tool_records("s1"), await store.list_tool_records("s1", turn=1)
    assert one[0] is two[0]
    done = replace(record, status="done", result={"content": "x"})
    assert await other.transition_tool("s1", "t1", from_status=("requested",), to=done)
    [now] = await store.list_tool_records("s1")
    assert (now.status, now.result) == ("done", {"content": "x"})
    store.close()
    other.close()


@pytest.mark.anyio
async def test_a_step_boundary_update_starts_from_the_recalled_session_and_never_overwrites_another_write(
    tmp_path: Path,
) -> None:
    """TurnEngine.update_latest writes from store.recalled() without a read; a write made elsewhere meanwhile fails
    the version check and the change is applied again to a fresh read."""
    from dataclasses import replace

    from dexa.core.steps_base import StepHost

    db = tmp_path / "dexa.db"
    store, other = SqliteStore(db), SqliteStore(db)
    created = await store.create_session(_session("s1"))
    assert store.recalled("s1") is created
    host = StepHost()
    host.store = store
    written = await host.update_latest("s1", lambda s: replace(s, title="one"))
    assert store.recalled("s1") is written and written.version == created.version + 1

    await other.update_session(replace(await other.get_session("s1"), status="paused"))  # e.g. the API, elsewhere
    written = await host.update_latest("s1", lambda s: replace(s, title="two"))
    stored = await other.get_session("s1")
    assert (stored.title, stored.status) == ("two", "paused")  # the other write survived
    await store.delete_session("s1")
    assert store.recalled("s1") is None
    store.close()
    other.close()


@pytest.mark.anyio
async def test_event_numbers_stay_contiguous_across_connections(tmp_path: Path) -> None:
    """append_event numbers and inserts in one statement: two connections interleaving (the CLI and dexa serve on
    one file) still number 1, 2, 3... and each is given the number it stored."""
    db = tmp_path / "dexa.db"
    store, other = SqliteStore(db), SqliteStore(db)
    given = [(await (store if i % 2 else other).append_event("s1", "x", {"i": i})).seq for i in range(6)]
    assert given == [1, 2, 3, 4, 5, 6]
    assert [(e.seq, e.data["i"]) for e in await store.read_events("s1")] == [(i + 1, i) for i in range(6)]
    assert (await store.append_event("s2", "x", {})).seq == 1  # numbered per session
    store.close()
    other.close()
