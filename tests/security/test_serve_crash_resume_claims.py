"""Session claims over the real SQLite store: one driver per session across processes, taken over only from a
driver that is gone. Each case is a way two drivers could otherwise both run a turn's tools."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dexa.adapters.sqlite import SqliteStore
from dexa.core.claims import NAMESPACE, SessionClaims, _host_id, _proc_start, owner_alive

SID = "ses_claimed0001"


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(tmp_path / "dexa.db")


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


async def _plant(store: SqliteStore, **fields: object) -> None:
    """A claim record as another driver would have left it (generation 1)."""
    doc = {"session_id": SID, "gen": 1, "holder": "other", "host": _host_id(), "renewed_at": 0.0, **fields}
    await store.kv_put(NAMESPACE, f"{SID}:{1:012d}", doc)


class SlowReads(SqliteStore):
    """Every claimant reads before any writes: they all see a free session and race on the same generation."""

    async def kv_list(self, namespace: str, *, prefix: str = "", org_id: str = "") -> list[dict[str, object]]:
        rows = await super().kv_list(namespace, prefix=prefix, org_id=org_id)
        await asyncio.sleep(0.01)
        return rows


def test_concurrent_claims_have_exactly_one_winner(tmp_path: Path) -> None:
    store = SlowReads(tmp_path / "dexa.db")

    async def main() -> tuple[list[bool], list[dict[str, object]]]:
        claimants = [SessionClaims(store) for _ in range(8)]
        won = list(await asyncio.gather(*(c.acquire(SID) for c in claimants)))
        return won, await store.kv_list(NAMESPACE, prefix=f"{SID}:")

    won, docs = asyncio.run(main())
    assert sorted(won) == [False] * 7 + [True]
    assert len(docs) == 1 and docs[0]["gen"] == 1


def test_a_live_process_keeps_its_claim(store: SqliteStore) -> None:
    parent = os.getppid()  # alive for the whole test, and not us

    async def main() -> bool:
        await _plant(store, pid=parent, started=_proc_start(parent))
        return await SessionClaims(store).acquire(SID)

    assert asyncio.run(main()) is False


def test_a_killed_process_claim_is_taken_over_and_cleaned_up(store: SqliteStore) -> None:
    async def main() -> tuple[bool, list[dict[str, object]]]:
        await _plant(store, pid=_dead_pid(), started="1")
        won = await SessionClaims(store).acquire(SID)
        return won, await store.kv_list(NAMESPACE, prefix=f"{SID}:")

    won, docs = asyncio.run(main())
    assert won
    assert [d["gen"] for d in docs] == [2] and docs[0]["pid"] == os.getpid()


def test_a_reused_pid_does_not_keep_a_dead_claim(store: SqliteStore) -> None:
    parent = os.getppid()

    async def main() -> bool:
        # The pid runs, but it is not the process that claimed: its start time differs.
        await _plant(store, pid=parent, started=str(int(_proc_start(parent) or "0") + 12345))
        return await SessionClaims(store).acquire(SID)

    assert asyncio.run(main()) is True


def test_a_released_claim_is_free_and_a_closed_driver_in_this_process_is_gone(store: SqliteStore) -> None:
    async def main() -> list[bool]:
        a, b = SessionClaims(store), SessionClaims(store)
        results = [await a.acquire(SID), await b.acquire(SID)]  # True, False: a holds it
        await a.release(SID)
        results.append(await b.acquire(SID))  # released: b takes it
        b.close()  # b stops without releasing (its task died with the loop)
        results.append(await a.acquire(SID))
        return results

    assert asyncio.run(main()) == [True, False, True, True]


def test_an_owner_on_another_machine_counts_until_its_heartbeat_is_stale() -> None:
    doc = {"host": "elsewhere/boot", "pid": 1, "renewed_at": 1000.0}
    assert owner_alive(doc, now=1000.0 + 60, ttl_s=900)
    assert not owner_alive(doc, now=1000.0 + 901, ttl_s=900)


def test_a_stale_read_cannot_resurrect_a_superseded_generation(store: SqliteStore) -> None:
    async def main() -> bool:
        # Generation 1 was cleaned up after generation 2 was claimed by a live process; a claimant that read the
        # old state writes generation 1 again: it must notice the newer one and back off.
        parent = os.getppid()
        doc = {"session_id": SID, "gen": 2, "holder": "other", "host": _host_id(), "pid": parent}
        await store.kv_put(NAMESPACE, f"{SID}:{2:012d}", {**doc, "started": _proc_start(parent)})
        late = SessionClaims(store)
        real = late._records

        async def stale(session_id: str) -> list[dict[str, object]]:
            late._records = real  # type: ignore[method-assign]  # only the first read is stale
            return []

        late._records = stale  # type: ignore[method-assign]
        won = await late.acquire(SID)
        left = await store.kv_list(NAMESPACE, prefix=f"{SID}:")
        assert [d["gen"] for d in left] == [2], json.dumps(left)
        return won

    assert asyncio.run(main()) is False


def test_a_driver_does_not_run_a_session_another_live_process_drives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The in-process driver consults the claim: with a live owner elsewhere it leaves the turn alone."""
    from dexa.settings import get_settings
    from dexa.wiring import build_runtime

    ws = tmp_path / "ws"
    ws.mkdir()
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"turns": [{"text": "should not run here"}]}))
    monkeypatch.setenv("DEXA_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    parent = os.getppid()

    async def main() -> tuple[str, int]:
        rt = build_runtime(get_settings())
        try:
            session = await rt.create_session(cwd=str(ws), model=f"scripted:{script}")
            await rt.engine.submit(session.id, "go")
            doc = {"session_id": session.id, "gen": 1, "holder": "other", "host": _host_id(), "pid": parent}
            await rt.store.kv_put(NAMESPACE, f"{session.id}:{1:012d}", {**doc, "started": _proc_start(parent)})
            after = await rt.driver.run(session.id)
            return after.status, len(await rt.store.list_messages(session.id))
        finally:
            await rt.aclose()

    try:
        assert asyncio.run(main()) == ("running", 0)
    finally:
        get_settings.cache_clear()
