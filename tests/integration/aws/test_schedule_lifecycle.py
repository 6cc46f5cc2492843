"""Schedules through the API shim create, update and delete EventBridge Scheduler schedules (moto); the schedule's own
target input, handed to the scheduler shim, starts the session on Step Functions, once, and a failed start retries."""

from __future__ import annotations

import asyncio
import base64
import json
import runpy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from sfn_world import World

from dexa.adapters.aws.moto_harness import LambdaContext
from dexa.adapters.aws.schedules import EventBridgeSchedules
from dexa.api.fake_runtime import FakeRuntime
from dexa.auth.service import AuthService
from dexa.cloud import lambdas
from dexa.core.errors import ConfigError, StorageError
from dexa.testing.scripted import text
from dexa.triggers.cron import eventbridge_cron

ROOT = Path(__file__).resolve().parents[3]
GROUP = "dexa-automations"
TARGET = "arn:aws:lambda:us-east-1:123456789012:function:dexa-scheduler"
ROLE = "arn:aws:iam::123456789012:role/dexa-scheduler"


class _Runtime(FakeRuntime):
    """FakeRuntime has slots; this subclass can carry the cloud timer the real Runtime gets from wiring."""


def _shim(name: str) -> Callable[[dict[str, Any], Any], Any]:
    return runpy.run_path(str(ROOT / "functions" / name / "handler.py"))["handler"]


@dataclass
class Deployed:
    world: World
    runtime: _Runtime
    scheduler: Any
    token: str


@pytest.fixture
def deployed(world_factory: Callable[..., World], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Deployed:
    world = world_factory([text("digest ready")], [])
    client = boto3.client("scheduler", region_name="us-east-1")
    client.create_schedule_group(Name=GROUP)
    runtime = _Runtime(store=world.store, engine=world.engine, driver=world.driver, home=tmp_path)  # type: ignore[arg-type]
    runtime.schedules = EventBridgeSchedules(GROUP, TARGET, ROLE, expression=eventbridge_cron, client=client)  # type: ignore[attr-defined]
    monkeypatch.setattr(lambdas, "cloud_runtime", lambda: runtime)
    auth = AuthService(world.store)

    async def key() -> str:
        await auth.create_org("acme", org_id="org_acme")
        await auth.create_user("org_acme", "alice", "admin", user_id="usr_alice")
        return (await auth.create_key("org_acme", "usr_alice", "ci"))[1]

    (tmp_path / "workspaces" / "org_acme" / "repo").mkdir(parents=True)
    return Deployed(world=world, runtime=runtime, scheduler=client, token=asyncio.run(key()))


def _call(d: Deployed, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    event = json.loads((ROOT / "events" / "api_rest_create_session.json").read_text())
    event.update(
        httpMethod=method,
        path=path,
        resource="/{proxy+}",
        pathParameters={"proxy": path.lstrip("/")},
        body=None if body is None else json.dumps(body),
    )
    event["headers"]["Authorization"] = f"Bearer {d.token}"
    out = _shim("api")(event, LambdaContext("api"))
    raw = base64.b64decode(out["body"]) if out.get("isBase64Encoded") else out.get("body")
    return out["statusCode"], json.loads(raw) if raw else None


def test_schedule_created_updated_and_deleted_through_the_api_follows_in_eventbridge(deployed: Deployed) -> None:
    status, created = _call(deployed, "POST", "/schedules", {"cron": "0 9 * * 1-5", "prompt": "digest", "cwd": "repo"})
    assert status == 201, created
    sid = created["id"]
    live = deployed.scheduler.get_schedule(Name=sid, GroupName=GROUP)
    assert live["ScheduleExpression"] == "cron(0 9 ? * 2,3,4,5,6 *)" and live["State"] == "ENABLED"
    assert live["Target"]["Arn"] == TARGET and live["Target"]["RoleArn"] == ROLE
    assert json.loads(live["Target"]["Input"])["schedule_id"] == sid

    status, updated = _call(deployed, "PATCH", f"/schedules/{sid}", {"cron": "*/15 * * * *", "enabled": False})
    assert status == 200 and updated["enabled"] is False and updated["prompt"] == "digest"
    live = deployed.scheduler.get_schedule(Name=sid, GroupName=GROUP)
    assert live["ScheduleExpression"] == "cron(0/15 * * * ? *)" and live["State"] == "DISABLED"

    assert _call(deployed, "DELETE", f"/schedules/{sid}")[0] == 204
    names = [s["Name"] for s in deployed.scheduler.list_schedules(GroupName=GROUP)["Schedules"]]
    assert sid not in names
    assert _call(deployed, "GET", "/schedules")[1]["count"] == 0


def test_a_cron_eventbridge_cannot_express_is_refused_and_leaves_no_record(deployed: Deployed) -> None:
    status, problem = _call(deployed, "POST", "/schedules", {"cron": "0 9 1 * 1", "prompt": "x", "cwd": "repo"})
    assert status == 400 and "day-of-month and day-of-week" in json.dumps(problem)
    assert _call(deployed, "GET", "/schedules")[1]["count"] == 0
    assert deployed.scheduler.list_schedules(GroupName=GROUP)["Schedules"] == []


class _FlakyDriver:
    """The Step Functions driver, whose first StartExecution fails the way a throttled call does."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.failures = inner, 1

    async def start_turn(self, session_id: str) -> str:
        if self.failures:
            self.failures -= 1
            raise StorageError("StartExecution failed: ThrottlingException")
        return await self.inner.start_turn(session_id)


def test_the_schedule_target_input_starts_the_session_once_and_a_failed_start_is_retried(deployed: Deployed) -> None:
    _, created = _call(deployed, "POST", "/schedules", {"cron": "0 9 * * *", "prompt": "write it", "cwd": "repo"})
    target = deployed.scheduler.get_schedule(Name=created["id"], GroupName=GROUP)["Target"]["Input"]
    # What Scheduler delivers: its context attribute replaced by the firing time.
    event = json.loads(target.replace("<aws.scheduler.scheduled-time>", "2026-01-05T09:00:00Z"))
    deployed.runtime.driver = _FlakyDriver(deployed.world.driver)  # type: ignore[assignment]
    handler = _shim("scheduler")
    with pytest.raises(StorageError):
        handler(event, LambdaContext("scheduler"))
    retried = handler(event, LambdaContext("scheduler"))
    assert retried["status"] == "started"
    assert handler(event, LambdaContext("scheduler"))["status"] == "duplicate"
    assert deployed.world.wait(retried["execution"])["status"] == "SUCCEEDED"
    session = asyncio.run(deployed.world.store.get_session(retried["session_id"]))
    assert (session.org_id, session.user_id, session.result) == ("org_acme", "usr_alice", "digest ready")
    assert session.config.headless and session.config.extra["schedule_id"] == created["id"]


def test_a_firing_for_a_deleted_schedule_starts_nothing(deployed: Deployed) -> None:
    event = {"schedule_id": "sch_gone", "org_id": "org_acme", "scheduled_time": "2026-01-05T09:00:00Z"}
    assert _shim("scheduler")(event, LambdaContext("scheduler"))["status"] == "skipped"


@pytest.mark.parametrize(
    ("unix", "eventbridge"),
    [
        ("0 9 * * 1-5", "cron(0 9 ? * 2,3,4,5,6 *)"),
        ("30 2 1 * *", "cron(30 2 1 * ? *)"),
        ("*/5 * * * *", "cron(0/5 * * * ? *)"),
        ("0 0 * * 0,7", "cron(0 0 ? * 1 *)"),
        ("0 8-10/2 * 1,6 *", "cron(0 8,10 * 1,6 ? *)"),
    ],
)
def test_unix_cron_becomes_the_eventbridge_expression(unix: str, eventbridge: str) -> None:
    assert eventbridge_cron(unix) == eventbridge


def test_an_eventbridge_timer_without_its_stack_settings_names_them() -> None:
    with pytest.raises(ConfigError, match="DEXA_SCHEDULE_GROUP"):
        EventBridgeSchedules.from_env({}, expression=eventbridge_cron, client=object())
