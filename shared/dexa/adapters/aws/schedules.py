"""Scheduled automations: EventBridge Scheduler starts a session from a saved task on a cron.

    ScheduleManager   what the API calls to create/update/delete an automation's schedule (its own group)
    run_automation    the scheduler Lambda: load the saved task, create a session, start its first turn

Saved tasks live in the kv store: namespace "automations", key = automation id, scoped by org:
    {"prompt": str, "cwd": str, "model": str?, "permission_mode": str?, "title": str?}
Scheduler delivers at least once, so a run is keyed by (automation, scheduled time) and started once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Mapping
from typing import Any

import anyio.to_thread

from dexa.core.engine import TurnEngine
from dexa.core.errors import ConfigError, NotFoundError, StorageError
from dexa.core.events import EventType
from dexa.core.session import Session

from . import schema
from ._ddb import error_code

logger = logging.getLogger(__name__)

AUTOMATIONS_NS = "automations"
RUNS_NS = "automation_runs"
_NAME = re.compile(r"^[0-9A-Za-z_.-]{1,64}$")


def schedule_expression(spec: str) -> str:
    """cron(...)/rate(...)/at(...) as given, or a bare 6-field EventBridge cron wrapped in cron(...)."""
    spec = spec.strip()
    if re.match(r"^(cron|rate|at)\(.+\)$", spec):
        return spec
    if len(spec.split()) == 6:
        return f"cron({spec})"
    raise ConfigError(f"schedule {spec!r}: use cron(m h dom mon dow yr), rate(...) or at(...) (EventBridge syntax)")


class ScheduleManager:
    def __init__(
        self, group: str, target_arn: str, role_arn: str, *, client: Any = None, region: str | None = None
    ) -> None:
        if not (group and target_arn and role_arn):
            raise ConfigError(
                f"scheduled automations need {schema.ENV_SCHEDULE_GROUP}, "
                f"{schema.ENV_SCHEDULER_TARGET_ARN} and {schema.ENV_SCHEDULER_ROLE_ARN}"
            )
        if client is None:
            import boto3

            client = boto3.client("scheduler", region_name=region)
        self.group, self.target_arn, self.role_arn, self._client = group, target_arn, role_arn, client

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, client: Any = None) -> ScheduleManager:
        return cls(
            env.get(schema.ENV_SCHEDULE_GROUP, ""),
            env.get(schema.ENV_SCHEDULER_TARGET_ARN, ""),
            env.get(schema.ENV_SCHEDULER_ROLE_ARN, ""),
            client=client,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"),
        )

    async def put(
        self, automation_id: str, *, org_id: str, schedule: str, timezone: str = "UTC", enabled: bool = True
    ) -> str:
        """Create or replace the schedule; returns its name (the automation id)."""
        if not _NAME.match(automation_id):
            raise ConfigError(f"automation id {automation_id!r} must be 1-64 of [0-9A-Za-z_.-]")
        args = {
            "Name": automation_id,
            "GroupName": self.group,
            "ScheduleExpression": schedule_expression(schedule),
            "ScheduleExpressionTimezone": timezone,
            "State": "ENABLED" if enabled else "DISABLED",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": {
                "Arn": self.target_arn,
                "RoleArn": self.role_arn,
                "Input": json.dumps(
                    {
                        "automation_id": automation_id,
                        "org_id": org_id,
                        "scheduled_time": "<aws.scheduler.scheduled-time>",
                    }
                ),
            },
        }

        def run() -> str:
            try:
                self._client.create_schedule(**args)
            except Exception as exc:
                if error_code(exc) != "ConflictException":
                    raise StorageError(f"CreateSchedule {automation_id} failed: {exc}") from exc
                self._client.update_schedule(**args)
            return automation_id

        return await anyio.to_thread.run_sync(run)

    async def delete(self, automation_id: str) -> None:
        def run() -> None:
            try:
                self._client.delete_schedule(Name=automation_id, GroupName=self.group)
            except Exception as exc:
                if error_code(exc) != "ResourceNotFoundException":
                    raise StorageError(f"DeleteSchedule {automation_id} failed: {exc}") from exc

        await anyio.to_thread.run_sync(run)


async def run_automation(event: Mapping[str, Any], *, engine: TurnEngine, driver: Any) -> dict[str, Any]:
    """Start one scheduled run: {automation_id, org_id, scheduled_time} -> a new session with its first turn."""
    automation_id, org_id = str(event.get("automation_id") or ""), str(event.get("org_id") or "")
    if not automation_id:
        raise ConfigError(f"scheduler event is missing automation_id: got keys {sorted(event)}")
    task = await engine.store.kv_get(AUTOMATIONS_NS, automation_id, org_id=org_id)
    if task is None:
        raise NotFoundError(f"automation {automation_id} of org {org_id or '(none)'} not found")
    missing = [k for k in ("prompt", "cwd") if not task.get(k)]
    if missing:
        raise ConfigError(f"automation {automation_id}: saved task lacks {', '.join(missing)}")
    when = str(event.get("scheduled_time") or int(time.time()))
    run_key = f"{automation_id}:{when}"
    session_id = "ses_" + hashlib.sha256(f"{org_id}:{run_key}".encode()).hexdigest()[:20]
    if not await engine.store.kv_put_if_absent(RUNS_NS, run_key, {"session_id": session_id}, org_id=org_id):
        return {"status": "duplicate", "session_id": session_id}
    now = time.time()
    session = Session(
        id=session_id,
        org_id=org_id,
        user_id=str(task.get("user_id") or f"automation:{automation_id}"),
        cwd=str(task["cwd"]),
        model=str(task.get("model") or "sonnet"),
        permission_mode=str(task.get("permission_mode") or "default"),
        title=str(task.get("title") or f"{automation_id} @ {when}"),
        created_at=now,
        updated_at=now,
    )
    await engine.store.create_session(session)
    await engine.emit(
        session_id,
        EventType.SESSION_CREATED,
        {
            "cwd": session.cwd,
            "model": session.model,
            "permission_mode": session.permission_mode,
            "automation_id": automation_id,
            "scheduled_time": when,
        },
    )
    await engine.submit(session_id, str(task["prompt"]))
    arn = await driver.start_turn(session_id) if hasattr(driver, "start_turn") else driver.start(session_id)
    return {"status": "started", "session_id": session_id, "execution": arn if isinstance(arn, str) else ""}
