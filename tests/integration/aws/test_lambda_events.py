"""The sample events in events/ drive the real shims and task bodies (moto, in-process), as `dexa invoke` would."""

from __future__ import annotations

import asyncio
import json
import runpy
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sfn_world import World

from dexa.adapters.aws.tasks import TaskEvent
from dexa.adapters.github.webhooks import sign_payload as github_signature
from dexa.api.fake_runtime import FakeRuntime
from dexa.auth.service import AuthService
from dexa.cloud import lambdas
from dexa.cloud.webhooks import WebhookReceiver
from dexa.core.errors import ConfigError
from dexa.integrations.slack_clicks import slack_signature
from dexa.testing.fakes import AppendTool, RulePolicy
from dexa.testing.scripted import text, tool_use

ROOT = Path(__file__).resolve().parents[3]
EVENTS = ROOT / "events"


def _event(name: str, **changes: Any) -> dict[str, Any]:
    return {**json.loads((EVENTS / name).read_text()), **changes}


def test_every_step_functions_sample_is_a_valid_task_event() -> None:
    samples = sorted(EVENTS.glob("sfn_*.json"))
    assert len(samples) >= 5
    for path in samples:
        event = TaskEvent.parse(json.loads(path.read_text()))
        assert event.session_id == "ses_example" and event.turn == 1


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"task": "call_model", "turn": 1}, "session_id"),
        ({"task": "call_model", "session_id": "s", "turn": "one"}, "turn"),
        ({"session_id": "s", "turn": 1}, "task"),
    ],
)
def test_a_malformed_task_event_names_the_field(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        TaskEvent.parse(raw)


def test_sample_step_events_walk_a_turn_and_an_unknown_task_is_refused(world_factory: Callable[..., World]) -> None:
    world = world_factory([text("hello")], [], chain=False)  # one step per event, as each sample names it
    asyncio.run(world.engine.submit(world.session_id, "hi"))
    sid = world.session_id
    first = world.runner.handle(_event("sfn_begin_turn.json", session_id=sid))
    assert first["outcome"] == "next" and first["step"] == "call_model"
    again = world.runner.handle(_event("sfn_begin_turn.json", session_id=sid))  # a duplicate delivery
    assert again["outcome"] == "next" and again["step"] == "call_model"
    assert world.runner.handle(_event("sfn_call_model.json", session_id=sid))["step"] == "end_turn"
    assert len(world.model.calls) == 1
    with pytest.raises(ConfigError, match="unknown agent-step task"):
        world.runner.handle(_event("sfn_call_model.json", session_id=sid, task="fly"))


def test_record_failure_sample_ends_the_turn_with_the_error_in_the_log(world_factory: Callable[..., World]) -> None:
    world = world_factory([text("unused")], [])
    asyncio.run(world.engine.submit(world.session_id, "hi"))
    out = world.runner.handle(_event("sfn_record_failure.json", session_id=world.session_id))
    assert out["outcome"] == "failed"
    events = asyncio.run(world.store.read_events(world.session_id))
    assert [e.type for e in events][-3:] == ["error", "turn.failed", "session.idle"]
    assert "example failure" in events[-3].data["message"]


# ---------------------------------------------------------------- webhooks

SECRET = "test-signing-secret"


def _receiver(world: World, *, now: float) -> WebhookReceiver:
    return WebhookReceiver(world.engine, world.driver.approvals, lambda provider: SECRET, clock=lambda: now)


async def _reviewer(world: World, slack_user: str) -> None:
    """The world's org "o" linked to the sample's Slack team, with `slack_user` acting as a reviewer."""
    from dexa.auth.org_links import ReviewChannels, map_slack_user, set_review_channels

    auth = AuthService(world.store)
    await auth.create_org("acme", org_id="o")
    await auth.create_user("o", "alice", "reviewer", user_id="usr_alice")
    await set_review_channels(world.store, "o", ReviewChannels(slack_team="T0EXAMPLE"))
    await map_slack_user(world.store, "o", slack_user, "usr_alice")


def _signed_slack(**headers: str) -> dict[str, Any]:
    event = _event("webhook_slack_approval.json")
    event["body"] = event["body"].replace("ses_example", "ses_1")
    ts = event["headers"]["X-Slack-Request-Timestamp"]
    event["headers"] = {
        **event["headers"],
        "X-Slack-Signature": slack_signature(SECRET, ts, event["body"].encode()),
        **headers,
    }
    return event


def test_slack_button_decides_the_approval_once_and_resumes_the_turn(world_factory: Callable[..., World]) -> None:
    append = AppendTool()
    world = world_factory(
        [tool_use("Append", {"path": "x", "line": "y"}, id="toolu_example_1"), text("done")],
        [append],
        policy=RulePolicy(ask={"Append"}),
    )
    arn = asyncio.run(world.start())
    world.wait(
        arn,
        until=lambda _: any(
            a.task_token for a in asyncio.run(world.store.list_approvals(world.session_id, status="pending"))
        ),
    )
    asyncio.run(_reviewer(world, "U024BE7LH"))
    receiver = _receiver(world, now=1767603600 + 5)
    first = asyncio.run(receiver.handle(_signed_slack()))
    assert first["statusCode"] == 200 and "allowed by <@U024BE7LH>" in json.loads(first["body"])["text"]
    replay = asyncio.run(receiver.handle(_signed_slack()))
    assert replay["statusCode"] == 200 and "Already decided" in json.loads(replay["body"])["text"]
    (decided,) = asyncio.run(world.store.list_approvals(world.session_id))
    assert decided.decided_by == "usr_alice"
    assert world.wait(arn)["status"] == "SUCCEEDED" and append.runs == 1


def test_slack_requests_with_a_bad_signature_or_an_old_timestamp_are_refused(
    world_factory: Callable[..., World],
) -> None:
    world = world_factory([text("unused")], [])
    assert (
        asyncio.run(_receiver(world, now=1767603600).handle(_signed_slack(**{"X-Slack-Signature": "v0=" + "0" * 64})))[
            "statusCode"
        ]
        == 401
    )
    assert asyncio.run(_receiver(world, now=1767603600 + 3600).handle(_signed_slack()))["statusCode"] == 401
    assert (
        asyncio.run(
            _receiver(world, now=0).handle(_event("webhook_slack_approval.json", pathParameters={"provider": "teams"}))
        )["statusCode"]
        == 404
    )


def test_github_delivery_is_verified_and_recorded_once(world_factory: Callable[..., World]) -> None:
    world = world_factory([text("unused")], [])
    event = _event("webhook_github_push.json")
    event["headers"]["X-Hub-Signature-256"] = github_signature(SECRET, event["body"].encode())
    receiver = _receiver(world, now=time.time())
    first, again = asyncio.run(receiver.handle(event)), asyncio.run(receiver.handle(event))
    assert first["statusCode"] == 202 and not json.loads(first["body"])["duplicate"]
    assert json.loads(again["body"])["duplicate"]
    doc = asyncio.run(world.store.kv_get("github_deliveries", "72d3162e-cc78-11e3-81ab-4c9367dc0958"))
    assert doc is not None and doc["event"] == "push"
    event["headers"]["X-Hub-Signature-256"] = "sha256=" + "0" * 64
    assert asyncio.run(receiver.handle(event))["statusCode"] == 401


# ---------------------------------------------------------------- the real shims


class _Runtime(FakeRuntime):
    pass


def _shim(name: str) -> Callable[[dict[str, Any], Any], Any]:
    return runpy.run_path(str(ROOT / "functions" / name / "handler.py"))["handler"]


def test_scheduler_shim_starts_a_saved_schedule_once(
    world_factory: Callable[..., World], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from dexa.adapters.aws.moto_harness import LambdaContext

    world = world_factory([text("digest ready")], [])
    runtime = FakeRuntime(store=world.store, engine=world.engine, driver=world.driver, home=tmp_path)  # type: ignore[arg-type]
    monkeypatch.setattr(lambdas, "cloud_runtime", lambda: runtime)
    asyncio.run(
        world.store.kv_put(
            "schedules",
            "sch_daily_digest",
            {"id": "sch_daily_digest", "cron": "0 9 * * 1-5", "prompt": "write the digest", "cwd": str(tmp_path)},
            org_id="org_example",
        )
    )
    handler = _shim("scheduler")
    out = handler(_event("scheduler_automation.json"), LambdaContext("scheduler"))
    assert out["status"] == "started"
    assert handler(_event("scheduler_automation.json"), LambdaContext("scheduler"))["status"] == "duplicate"
    assert world.wait(out["execution"])["status"] == "SUCCEEDED"
    session = asyncio.run(world.store.get_session(out["session_id"]))
    assert session.org_id == "org_example" and session.result == "digest ready"


def test_api_shim_serves_a_rest_event_and_the_turn_runs_on_step_functions(
    world_factory: Callable[..., World], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from dexa.adapters.aws.moto_harness import LambdaContext

    append = AppendTool()
    world = world_factory(
        [tool_use("Append", {"path": "x", "line": "y"}), text("api turn done")],
        [append],
        policy=RulePolicy(ask={"Append"}),
    )
    runtime = FakeRuntime(store=world.store, engine=world.engine, driver=world.driver, home=tmp_path)  # type: ignore[arg-type]
    monkeypatch.setattr(lambdas, "cloud_runtime", lambda: runtime)
    auth = AuthService(world.store)

    async def key() -> str:
        org = await auth.create_org("acme", org_id="org_acme")
        user = await auth.create_user(org.id, "alice", "admin", user_id="usr_alice")
        return (await auth.create_key(org.id, user.id, "ci"))[1]

    token = asyncio.run(key())
    handler = _shim("api")
    create = _event("api_rest_create_session.json")
    create["headers"]["Authorization"] = f"Bearer {token}"
    # Sessions live under the org's workspace root; a relative cwd is taken from it.
    (tmp_path / "workspaces" / "org_acme" / "repo").mkdir(parents=True)
    create["body"] = json.dumps({"prompt": "append a line", "cwd": "repo"})
    response = handler(create, LambdaContext("api"))
    assert response["statusCode"] == 201, response["body"]
    sid = json.loads(response["body"])["id"]
    execution = world.driver.execution_arn(f"{sid}-t1")
    world.wait(
        execution,
        until=lambda _: any(a.task_token for a in asyncio.run(world.store.list_approvals(sid, status="pending"))),
    )
    (approval,) = asyncio.run(world.store.list_approvals(sid, status="pending"))
    approve = {
        **create,
        "path": f"/sessions/{sid}/approve",
        "pathParameters": {"proxy": f"sessions/{sid}/approve"},
        "body": json.dumps({"approval_id": approval.id, "decision": "once"}),
    }
    assert handler(approve, LambdaContext("api"))["statusCode"] == 200
    assert world.wait(execution)["status"] == "SUCCEEDED" and append.runs == 1
    events = {
        **create,
        "httpMethod": "GET",
        "path": f"/sessions/{sid}/events",
        "body": None,
        "pathParameters": {"proxy": f"sessions/{sid}/events"},
    }
    sse = handler(events, LambdaContext("api"))
    assert sse["statusCode"] == 200 and "retry:" in sse["body"] and "turn.completed" in sse["body"]
