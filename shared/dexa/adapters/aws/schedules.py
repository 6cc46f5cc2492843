"""EventBridge Scheduler as the timer of scheduled prompts (dexa.triggers.schedules.ScheduleSync).

One schedule per Dexa schedule, named by its id, in Dexa's own schedule group. Its target is the scheduler
Lambda, invoked with `{schedule_id, org_id, scheduled_time}` through the role the stack made for exactly that.
Scheduler invokes Lambda asynchronously: its RetryPolicy covers only the invoke call (throttling, a missing
function), after which a firing goes to the schedule's dead-letter queue; a *function* error is retried by Lambda
(the function's async retry, then its on-failure destination, both set by the stack).
Dexa's cron is five-field Unix cron and EventBridge wants its own six-field form: the translation is the cron
feature's (dexa.triggers.cron.eventbridge_cron), handed in by whoever builds this timer. Schedules run in UTC.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

import anyio.to_thread

from dexa.core.errors import ConfigError, StorageError

from . import schema
from ._ddb import error_code

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^[0-9A-Za-z_.-]{1,64}$")
# A five-field cron -> EventBridge's `cron(...)`, raising ConfigError for one EventBridge cannot express.
Expression = Callable[[str], str]


class EventBridgeSchedules:
    """ScheduleSync over EventBridge Scheduler (scheduler:Create/Update/DeleteSchedule in one group)."""

    def __init__(
        self,
        group: str,
        target_arn: str,
        role_arn: str,
        *,
        expression: Expression,
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
            from .clients import LazyClient

            # Made on the first schedule change: most API requests never make one (and boto3 is never imported).
            client = LazyClient("scheduler", region=region)
        self.group, self.target_arn, self.role_arn, self._client = group, target_arn, role_arn, client
        self.dead_letter_arn, self.expression = dead_letter_arn, expression

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, expression: Expression, client: Any = None) -> EventBridgeSchedules:
        return cls(
            env.get(schema.ENV_SCHEDULE_GROUP, ""),
            env.get(schema.ENV_SCHEDULER_TARGET_ARN, ""),
            env.get(schema.ENV_SCHEDULER_ROLE_ARN, ""),
            expression=expression,
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
            "ScheduleExpression": self.expression(cron),
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
