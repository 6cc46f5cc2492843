"""A schedule's firing over a real SQLite store: started once per scheduled time, a claim left by an attempt that
died is taken over, a live one is left alone, and a disabled or deleted schedule starts nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from dexa.adapters.sqlite import SqliteStore
from dexa.api.fake_runtime import fake_runtime
from dexa.core.errors import ConflictError
from dexa.testing.scripted import ScriptedModel, text
from dexa.triggers.schedules import RUNS, SCHEDULES, STALE_CLAIM_S, start_scheduled_run

EVENT = {"schedule_id": "sch_1", "org_id": "org_a", "scheduled_time": "2026-01-05T09:00:00Z"}
RUN_KEY = "sch_1:2026-01-05T09:00:00Z"


class _Driver:
    def __init__(self) -> None:
        self.started: list[str] = []

    async def start_turn(self, session_id: str) -> str:
        self.started.append(session_id)
        return f"arn:execution:{session_id}"


def _runtime(tmp_path: Path, **schedule: Any) -> tuple[Any, _Driver]:
    runtime = fake_runtime(tmp_path, model=ScriptedModel([text("ok")]), store=SqliteStore(tmp_path / "dexa.db"))
    driver = _Driver()
    runtime.driver = driver  # type: ignore[assignment]
    doc = {"id": "sch_1", "cron": "0 9 * * *", "prompt": "digest", "cwd": str(tmp_path), "created_by": "usr_a"}
    asyncio.run(runtime.store.kv_put(SCHEDULES, "sch_1", {**doc, **schedule}, org_id="org_a"))
    return runtime, driver


def test_a_claim_left_by_a_dead_attempt_is_taken_over_and_a_live_one_is_not(tmp_path: Path) -> None:
    runtime, driver = _runtime(tmp_path)
    now = 1_800_000_000.0
    asyncio.run(runtime.store.kv_put(RUNS, RUN_KEY, {"state": "starting", "at": now - 5}, org_id="org_a"))
    # A live claim fails the delivery, so it is retried (a success would drop the run if that attempt died).
    with pytest.raises(ConflictError, match="being started by another attempt"):
        asyncio.run(start_scheduled_run(runtime, EVENT, now=now))
    assert driver.started == []
    # Lambda retries an async event about 1 and 3 minutes after the first attempt: the last retry takes over.
    assert 60 < STALE_CLAIM_S < 180
    later = now + STALE_CLAIM_S + 1
    out = asyncio.run(start_scheduled_run(runtime, EVENT, now=later))
    assert out["status"] == "started" and driver.started == [out["session_id"]]
    assert asyncio.run(start_scheduled_run(runtime, EVENT, now=later + 1))["status"] == "duplicate"
    session = asyncio.run(runtime.store.get_session(out["session_id"]))
    assert session.user_id == "usr_a" and session.config.headless


def test_another_scheduled_time_is_another_run(tmp_path: Path) -> None:
    runtime, driver = _runtime(tmp_path)
    first = asyncio.run(start_scheduled_run(runtime, EVENT))
    second = asyncio.run(start_scheduled_run(runtime, {**EVENT, "scheduled_time": "2026-01-06T09:00:00Z"}))
    assert first["status"] == second["status"] == "started" and first["session_id"] != second["session_id"]
    assert len(driver.started) == 2


def test_a_disabled_or_deleted_schedule_starts_nothing(tmp_path: Path) -> None:
    runtime, driver = _runtime(tmp_path, enabled=False)
    assert asyncio.run(start_scheduled_run(runtime, EVENT))["reason"] == "schedule disabled"
    assert asyncio.run(start_scheduled_run(runtime, {**EVENT, "org_id": "org_b"}))["reason"] == "schedule deleted"
    assert driver.started == []
