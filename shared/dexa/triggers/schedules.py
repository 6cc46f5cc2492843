"""Scheduled prompts: the records `POST /schedules` writes (kv "schedules", per org), the port that keeps a timer
in step with them, and the one function that turns a firing into a session.

Locally the timer is `dexa serve`'s loop (dexa.runtime.scheduler), which reads the records itself, so the
runtime has no ScheduleSync (`Runtime.schedules` is None; `InProcessSchedules` is the explicit no-op). In the
cloud, EventBridge Scheduler is the timer (dexa.adapters.aws.schedules.EventBridgeSchedules) and the scheduler
Lambda calls `start_scheduled_run`.

A firing is delivered at least once. A run is keyed by (schedule, scheduled time); the key is claimed before the
session starts and released again when starting fails, so a retried delivery starts a failed run instead of
dropping it as a duplicate. The session id derives from the key, so two deliveries racing past a stale claim
still create one session. A delivery that finds a live claim fails (ConflictError) rather than succeeding: the
attempt holding the claim may still die without releasing it (a timeout, a killed runtime), and only a failed
delivery is retried (Lambda retries an asynchronous invoke about 1 and 3 minutes later, by when the claim is stale).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from dexa.core.errors import ConfigError, ConflictError, NotFoundError
from dexa.core.session import SessionConfig

logger = logging.getLogger(__name__)

SCHEDULES = "schedules"  # the API's records (dexa.api.routers.config writes them)
RUNS = "schedule_runs"
# A claim older than this belongs to an attempt that died mid-start (the scheduler Lambda times out at 60 s), and
# Lambda's last retry of the firing (about 3 minutes after the first attempt) finds it stale.
STALE_CLAIM_S = 90.0


class ScheduleSync(Protocol):
    """Keeps the timer that fires a schedule in step with its record."""

    async def put(self, schedule_id: str, *, org_id: str, cron: str, enabled: bool) -> None:
        """Create or replace the timer for `schedule_id` (five-field cron, UTC in the cloud).

        Raises:
            ConfigError: the cron cannot be expressed by this timer.
            StorageError: the timer service failed.
        """
        ...

    async def delete(self, schedule_id: str, *, org_id: str) -> None:
        """Remove the timer; a missing one is not an error."""
        ...


class InProcessSchedules:
    """`dexa serve`: the scheduler loop reads the records directly, so there is nothing to keep in step."""

    async def put(self, schedule_id: str, *, org_id: str, cron: str, enabled: bool) -> None:
        return None

    async def delete(self, schedule_id: str, *, org_id: str) -> None:
        return None


def run_session_id(org_id: str, run_key: str) -> str:
    return "ses_" + hashlib.sha256(f"{org_id}:{run_key}".encode()).hexdigest()[:20]


async def _claim(store: Any, run_key: str, org_id: str, now: float) -> str | None:
    """None when this attempt may start the run, else why not ("duplicate" or "in_progress")."""
    if await store.kv_put_if_absent(RUNS, run_key, {"state": "starting", "at": now}, org_id=org_id):
        return None
    doc = await store.kv_get(RUNS, run_key, org_id=org_id) or {}
    if doc.get("state") == "started":
        return "duplicate"
    if now - float(doc.get("at") or 0.0) < STALE_CLAIM_S:
        return "in_progress"
    logger.warning("schedule run %s: taking over a claim left by an attempt that died", run_key)
    await store.kv_put(RUNS, run_key, {"state": "starting", "at": now}, org_id=org_id)
    return None


def _workspace(runtime: Any, cwd: str | None, org_id: str) -> str:
    """The record's cwd (checked against the org's root when it was saved), or the org's workspace root. This
    function's container may never have seen the directory, so it is created inside the workspaces dir."""
    settings = getattr(runtime, "settings", None)
    if getattr(settings, "sandbox", "") == "modal":
        # The session's files live in its remote workspace (as for sessions the API creates), not on this disk.
        from dexa.adapters.modal.image import WORKDIR

        return cwd or WORKDIR
    root = Path(settings.workspaces_dir) / org_id if settings is not None else None
    path = Path(cwd) if cwd else root
    if path is None:
        raise ConfigError(f"schedule of org {org_id} has no cwd and the runtime has no workspaces dir")
    if not path.is_dir() and root is not None and (path == root or root in path.parents):
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return str(path)


async def _start(runtime: Any, doc: Mapping[str, Any], *, org_id: str, session_id: str, when: str) -> str:
    store, engine = runtime.store, runtime.engine
    try:
        session = await store.get_session(session_id)
    except NotFoundError:
        session = await runtime.create_session(
            cwd=_workspace(runtime, doc.get("cwd"), org_id),
            model=doc.get("model"),
            org_id=org_id,
            user_id=str(doc.get("created_by") or ""),
            title=f"schedule {doc['id']} @ {when}: {str(doc['prompt'])[:60]}",
            session_id=session_id,
            # Nobody watches a scheduled run: asks become reported denials, as in `dexa run -p`.
            config=SessionConfig(headless=True, extra={"schedule_id": doc["id"], "scheduled_time": when}),
        )
    if session.turn_state is None and session.turns_completed == 0:
        await engine.submit(session_id, str(doc["prompt"]))
    driver = runtime.driver
    started = await driver.start_turn(session_id) if hasattr(driver, "start_turn") else driver.start(session_id)
    return started if isinstance(started, str) else ""


async def start_scheduled_run(runtime: Any, event: Mapping[str, Any], *, now: float | None = None) -> dict[str, Any]:
    """One firing: `{schedule_id, org_id, scheduled_time}` -> a session running the schedule's prompt.

    Returns `{"status": "started" | "duplicate" | "skipped", ...}`.

    Raises:
        ConfigError: the event lacks schedule_id or org_id.
        ConflictError: another attempt holds a live claim on the run (retry the delivery later).
        DexaError: starting failed; the run is released so a redelivery starts it.
    """
    schedule_id, org_id = str(event.get("schedule_id") or ""), str(event.get("org_id") or "")
    if not schedule_id or not org_id:
        raise ConfigError(f"scheduler event needs schedule_id and org_id; got keys {sorted(event)}")
    now = time.time() if now is None else now
    store = runtime.store
    doc = await store.kv_get(SCHEDULES, schedule_id, org_id=org_id)
    if doc is None or not doc.get("enabled", True):
        # Deleted or disabled after the timer fired: nothing to run, and nothing worth a retry.
        return {"status": "skipped", "reason": "schedule deleted" if doc is None else "schedule disabled"}
    when = str(event.get("scheduled_time") or int(now // 60 * 60))
    run_key = f"{schedule_id}:{when}"
    session_id = run_session_id(org_id, run_key)
    refused = await _claim(store, run_key, org_id, now)
    if refused == "in_progress":
        # Not a success: if the attempt holding the claim dies, this delivery's retry must take the run over.
        raise ConflictError(f"schedule run {run_key} is being started by another attempt; retry later")
    if refused is not None:
        return {"status": refused, "session_id": session_id}
    try:
        execution = await _start(runtime, doc, org_id=org_id, session_id=session_id, when=when)
    except BaseException:
        await store.kv_delete(RUNS, run_key, org_id=org_id)
        raise
    await store.kv_put(RUNS, run_key, {"state": "started", "at": now, "session_id": session_id}, org_id=org_id)
    logger.info("schedule %s (%s) started session %s", schedule_id, when, session_id)
    return {"status": "started", "session_id": session_id, "execution": execution}
