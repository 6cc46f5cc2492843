"""A stored schedule starts a headless session when due, exactly once per minute even with two tickers."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import pytest

# Cron runs in the server's local time zone, so naive local datetimes are the right inputs here.
from dexa.runtime.scheduler import SCHEDULES, run_due
from dexa.settings import get_settings
from dexa.wiring import LOCAL_ORG, build_runtime


def test_due_schedule_runs_once_per_minute_and_finishes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEXA_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    ws = tmp_path / "ws"
    ws.mkdir()
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"turns": [{"text": "daily report done"}]}))
    now = dt.datetime(2026, 11, 23, 9, 0, 5).timestamp()  # a Monday, 09:00 local

    async def main() -> str:
        rt = build_runtime(get_settings())
        try:
            for sid, cron in (("sch_due", "0 9 * * 1-5"), ("sch_later", "30 9 * * *")):
                await rt.store.kv_put(SCHEDULES, sid, {"id": sid, "cron": cron, "prompt": "write the daily report",
                                                       "cwd": str(ws), "model": f"scripted:{script}",
                                                       "enabled": True}, org_id=LOCAL_ORG)
            first, second = await asyncio.gather(run_due(rt, [LOCAL_ORG], now=now), run_due(rt, [LOCAL_ORG], now=now))
            started = first + second
            assert len(started) == 1
            for _ in range(200):
                session = await rt.store.get_session(started[0])
                if session.turn_state is None and session.turns_completed:
                    break
                await asyncio.sleep(0.02)
            doc = await rt.store.kv_get(SCHEDULES, "sch_due", org_id=LOCAL_ORG)
            assert doc is not None and doc["last_session_id"] == started[0]
            assert session.config.headless
            return session.result
        finally:
            await rt.aclose()

    try:
        assert asyncio.run(main()) == "daily report done"
    finally:
        get_settings.cache_clear()
