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

from dexa.core.errors import ConfigError
from dexa.core.session import SessionConfig
from dexa.triggers.cron import parse as parse_cron

logger = logging.getLogger(__name__)

SCHEDULES = "schedules"
RUNS = "schedule_runs"
TICK_S = 20.0


def _due(doc: dict[str, Any], local: dt.datetime) -> bool:
    try:
        return parse_cron(str(doc["cron"])).matches(local)
    except ConfigError as exc:  # a record written around the API's check must not stop the others
        logger.warning("schedule %s skipped: %s", doc.get("id"), exc)
        return False


async def run_due(
    runtime: Any, org_ids: Sequence[str], *, now: float | None = None, default_cwd: str | None = None
) -> list[str]:
    """Start a session for every enabled schedule due this minute; returns the new session ids."""
    now = time.time() if now is None else now
    local = dt.datetime.fromtimestamp(now)  # noqa: DTZ006 - cron runs in the server's local time zone
    minute = int(now // 60)
    started: list[str] = []
    for org_id in org_ids:
        for doc in await runtime.store.kv_list(SCHEDULES, org_id=org_id):
            if not doc.get("enabled", True) or not _due(doc, local):
                continue
            if not await runtime.store.kv_put_if_absent(RUNS, f"{doc['id']}:{minute}", {"at": now}, org_id=org_id):
                continue  # another process (or an earlier tick) already ran this minute
            cwd = doc.get("cwd") or default_cwd
            if not cwd:
                logger.warning("schedule %s has no cwd and the server has no default; skipped", doc["id"])
                continue
            try:
                session = await runtime.create_session(
                    cwd=cwd,
                    model=doc.get("model"),
                    org_id=org_id,
                    user_id=str(doc.get("created_by") or ""),
                    title=f"schedule {doc['id']}: {str(doc['prompt'])[:60]}",
                    # Nobody watches a scheduled run: asks become reported denials, as in `dexa run -p`.
                    config=SessionConfig(headless=True, extra={"schedule_id": doc["id"]}),
                )
                await runtime.engine.submit(session.id, str(doc["prompt"]))
                runtime.driver.start(session.id)
            except Exception:  # one broken schedule must not stop the others
                logger.exception("schedule %s failed to start", doc["id"])
                continue
            await runtime.store.kv_put(
                SCHEDULES, doc["id"], {**doc, "last_run_at": now, "last_session_id": session.id}, org_id=org_id
            )
            started.append(session.id)
    return started


async def scheduler_loop(
    runtime: Any, org_ids: Sequence[str], *, default_cwd: str | None = None, tick_s: float = TICK_S
) -> None:
    while True:
        try:
            await run_due(runtime, org_ids, default_cwd=default_cwd)
        except Exception:  # the loop outlives a bad tick
            logger.exception("scheduler tick failed")
        await asyncio.sleep(tick_s)
