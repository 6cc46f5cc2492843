"""EventBridge Scheduler as the timer of scheduled prompts (dexa.triggers.schedules.ScheduleSync).

One schedule per Dexa schedule, named by its id, in Dexa's own schedule group. Its target is the scheduler
Lambda, invoked with `{schedule_id, org_id, scheduled_time}` through the role the stack made for exactly that.
Scheduler invokes Lambda asynchronously: its RetryPolicy covers only the invoke call (throttling, a missing
function), after which a firing goes to the schedule's dead-letter queue; a *function* error is retried by Lambda
(the function's async retry, then its on-failure destination, both set by the stack).
Dexa's cron is five-field Unix cron; EventBridge wants six fields, a `?` in one of the day fields, and numbers
weekdays 1-7 from Sunday, so the expression is translated here. Schedules run in UTC.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any

import anyio.to_thread

from dexa.core.errors import ConfigError, StorageError
from dexa.triggers.cron import DOM, DOW, RANGES, Cron
from dexa.triggers.cron import parse as parse_cron

from . import schema
from ._ddb import error_code

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^[0-9A-Za-z_.-]{1,64}$")


def _simple(cron: Cron, index: int) -> str:
    """`*` and `*/n` as EventBridge writes them; anything else as the explicit list it means."""
    field = cron.fields[index]
    if field == "*":
        return "*"
    if field.startswith("*/"):
        return f"{RANGES[index][0]}/{field[2:]}"
    return ",".join(str(v) for v in cron.values(index))


def eventbridge_cron(expr: str) -> str:
    """`m h dom mon dow` (Unix cron) -> `cron(m h dom mon dow *)` (EventBridge).

    Raises:
        ConfigError: not a valid five-field cron, or both day fields restricted (Unix cron ORs them; EventBridge
            cannot).
    """
    cron = parse_cron(expr)
    dom, dow = cron.fields[DOM], cron.fields[DOW]
    if dom != "*" and dow != "*":
        raise ConfigError(
            f"cron {expr!r}: EventBridge Scheduler cannot restrict both day-of-month and day-of-week; "
            "keep one of them `*` (or create two schedules)"
        )
    m, h, mo = _simple(cron, 0), _simple(cron, 1), _simple(cron, 3)
    if dow == "*":
        days, weekdays = _simple(cron, DOM), "?"
    else:
        # Unix 0/7 = Sunday, EventBridge 1 = Sunday ... 7 = Saturday.
        days, weekdays = "?", ",".join(str(d + 1) for d in cron.values(DOW))
    return f"cron({m} {h} {days} {mo} {weekdays} *)"


class EventBridgeSchedules:
    """ScheduleSync over EventBridge Scheduler (scheduler:Create/Update/DeleteSchedule in one group)."""

    def __init__(
        self,
        group: str,
        target_arn: str,
        role_arn: str,
        *,
        dead_letter_arn: str = "",
        client: Any = None,
        region: str | None = None,
    ) -> None:
        if not (group and target_arn and role_arn):
            raise ConfigError(
                f"EventBridge schedules need {schema.ENV_SCHEDULE_GROUP}, "
                f"{schema.ENV_SCHEDULER_TARGET_ARN} and {schema.ENV_SCHEDULER_ROLE_ARN}"
            )
        if client is None:
            import boto3

            client = boto3.client("scheduler", region_name=region)
        self.group, self.target_arn, self.role_arn, self._client = group, target_arn, role_arn, client
        self.dead_letter_arn = dead_letter_arn

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, client: Any = None) -> EventBridgeSchedules:
        return cls(
            env.get(schema.ENV_SCHEDULE_GROUP, ""),
            env.get(schema.ENV_SCHEDULER_TARGET_ARN, ""),
            env.get(schema.ENV_SCHEDULER_ROLE_ARN, ""),
            dead_letter_arn=env.get(schema.ENV_SCHEDULER_DLQ_ARN, ""),
            client=client,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"),
        )

    def request(self, schedule_id: str, *, org_id: str, cron: str, enabled: bool) -> dict[str, Any]:
        """The CreateSchedule/UpdateSchedule arguments (UpdateSchedule replaces every field)."""
        if not _NAME.match(schedule_id):
            raise ConfigError(f"schedule id {schedule_id!r} must be 1-64 of [0-9A-Za-z_.-]")
        target: dict[str, Any] = {
            "Arn": self.target_arn,
            "RoleArn": self.role_arn,
            "Input": json.dumps(
                {"schedule_id": schedule_id, "org_id": org_id, "scheduled_time": "<aws.scheduler.scheduled-time>"}
            ),
            # Retries of the invoke itself; the run's claim makes a redelivery start it, not drop it.
            "RetryPolicy": {"MaximumRetryAttempts": 10, "MaximumEventAgeInSeconds": 3600},
        }
        if self.dead_letter_arn:
            # A firing Scheduler could not deliver is kept for an operator (the stack alarms on the queue).
            target["DeadLetterConfig"] = {"Arn": self.dead_letter_arn}
        return {
            "Name": schedule_id,
            "GroupName": self.group,
            "ScheduleExpression": eventbridge_cron(cron),
            "ScheduleExpressionTimezone": "UTC",
            "State": "ENABLED" if enabled else "DISABLED",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": target,
        }

    async def put(self, schedule_id: str, *, org_id: str, cron: str, enabled: bool) -> None:
        args = self.request(schedule_id, org_id=org_id, cron=cron, enabled=enabled)

        def run() -> None:
            try:
                self._client.create_schedule(**args)
            except Exception as exc:
                if error_code(exc) != "ConflictException":
                    raise StorageError(f"CreateSchedule {schedule_id} failed: {exc}") from exc
                try:
                    self._client.update_schedule(**args)
                except Exception as again:
                    raise StorageError(f"UpdateSchedule {schedule_id} failed: {again}") from again

        await anyio.to_thread.run_sync(run)

    async def delete(self, schedule_id: str, *, org_id: str) -> None:
        def run() -> None:
            try:
                self._client.delete_schedule(Name=schedule_id, GroupName=self.group)
            except Exception as exc:
                if error_code(exc) != "ResourceNotFoundException":
                    raise StorageError(f"DeleteSchedule {schedule_id} failed: {exc}") from exc

        await anyio.to_thread.run_sync(run)
