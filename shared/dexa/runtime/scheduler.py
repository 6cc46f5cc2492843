"""Scheduled prompts for `dexa serve`: the schedules the API stores (kv "schedules") start headless sessions.

In the cloud, EventBridge Scheduler plays this role (adapters/aws/schedules.py); locally, a loop in the server does.
Each (schedule, minute) runs at most once, across processes, through a conditional write.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Sequence
from typing import Any

from dexa.core.session import SessionConfig

logger = logging.getLogger(__name__)

SCHEDULES = "schedules"
RUNS = "schedule_runs"
TICK_S = 20.0
_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


def _field_values(field: str, lo: int, hi: int) -> set[int]:
    values: set[int] = set()
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            start, end = lo, hi
        elif "-" in base:
            a, b = base.split("-", 1)
            start, end = int(a), int(b)
        else:
            start = end = int(base)
            if step_text:
                end = hi
        values.update(range(start, end + 1, step))
    return values


def cron_matches(expr: str, when: dt.datetime) -> bool:
    """Standard five-field cron. When both day fields are restricted, either may match (Vixie cron's rule)."""
    minute, hour, dom, month, dow = expr.split()
    fields = [_field_values(f, lo, hi) for f, (lo, hi) in zip((minute, hour, dom, month, dow), _RANGES, strict=True)]
    weekdays = {d % 7 for d in fields[4]}  # 0 and 7 are both Sunday
    cron_dow = (when.weekday() + 1) % 7
    if when.minute not in fields[0] or when.hour not in fields[1] or when.month not in fields[3]:
        return False
    dom_any, dow_any = dom.startswith("*"), dow.startswith("*")
    dom_ok, dow_ok = when.day in fields[2], cron_dow in weekdays
    if dom_any or dow_any:
        return dom_ok and dow_ok
    return dom_ok or dow_ok


async def run_due(runtime: Any, org_ids: Sequence[str], *, now: float | None = None,
                  default_cwd: str | None = None) -> list[str]:
    """Start a session for every enabled schedule due this minute; returns the new session ids."""
    now = time.time() if now is None else now
    local = dt.datetime.fromtimestamp(now)  # noqa: DTZ006 - cron runs in the server's local time zone
    minute = int(now // 60)
    started: list[str] = []
    for org_id in org_ids:
        for doc in await runtime.store.kv_list(SCHEDULES, org_id=org_id):
            if not doc.get("enabled", True) or not cron_matches(str(doc["cron"]), local):
                continue
            if not await runtime.store.kv_put_if_absent(RUNS, f"{doc['id']}:{minute}", {"at": now}, org_id=org_id):
                continue  # another process (or an earlier tick) already ran this minute
            cwd = doc.get("cwd") or default_cwd
            if not cwd:
                logger.warning("schedule %s has no cwd and the server has no default; skipped", doc["id"])
                continue
            try:
                session = await runtime.create_session(
                    cwd=cwd, model=doc.get("model"), org_id=org_id, user_id=str(doc.get("created_by") or ""),
                    title=f"schedule {doc['id']}: {str(doc['prompt'])[:60]}",
                    # Nobody watches a scheduled run: asks become reported denials, as in `dexa run -p`.
                    config=SessionConfig(headless=True, extra={"schedule_id": doc["id"]}),
                )
                await runtime.engine.submit(session.id, str(doc["prompt"]))
                runtime.driver.start(session.id)
            except Exception:  # one broken schedule must not stop the others
                logger.exception("schedule %s failed to start", doc["id"])
                continue
            await runtime.store.kv_put(SCHEDULES, doc["id"], {**doc, "last_run_at": now, "last_session_id": session.id},
                                       org_id=org_id)
            started.append(session.id)
    return started


async def scheduler_loop(runtime: Any, org_ids: Sequence[str], *, default_cwd: str | None = None,
                         tick_s: float = TICK_S) -> None:
    while True:
        try:
            await run_due(runtime, org_ids, default_cwd=default_cwd)
        except Exception:  # the loop outlives a bad tick
            logger.exception("scheduler tick failed")
        await asyncio.sleep(tick_s)
