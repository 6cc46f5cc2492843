"""The webhooks shim (functions/webhooks/handler.py) as API Gateway invokes it: an `@dexa` mention on a linked repo
starts a Step Functions turn as the org's configured user; a Slack click decides only for a mapped reviewer, and
anyone else gets an ephemeral refusal through the response_url of a local Slack fake while nothing changes."""

from __future__ import annotations

import asyncio
import json
import runpy
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sfn_world import World

from dexa.adapters.aws.moto_harness import LambdaContext
from dexa.adapters.github.webhooks import sign_payload as github_signature
from dexa.api.fake_runtime import FakeRuntime
from dexa.auth.org_links import ReviewChannels, link_github, map_slack_user, set_review_channels
from dexa.auth.service import AuthService
from dexa.cloud import lambdas
from dexa.core.errors import ConflictError
from dexa.integrations.slack_clicks import slack_signature
from dexa.testing.fakes import AppendTool, RulePolicy
from dexa.testing.scripted import text, tool_use
from dexa.testing.slack_fake import SlackFake

ROOT = Path(__file__).resolve().parents[3]
SECRET = "whsec-test"
TEAM = "T0EXAMPLE"


def _event(name: str) -> dict[str, Any]:
    return json.loads((ROOT / "events" / name).read_text())


@dataclass
class Hooks:
    world: World
    slack: SlackFake
    handler: Callable[[dict[str, Any], Any], Any]

    def call(self, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        out = self.handler(event, LambdaContext("webhooks"))
        return out["statusCode"], json.loads(out["body"])


@pytest.fixture
def slack() -> Iterator[SlackFake]:
    fake = SlackFake(token="xoxb-test").start()
    yield fake
    fake.stop()


def _hooks(world: World, slack: SlackFake, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Hooks:
    runtime = FakeRuntime(store=world.store, engine=world.engine, driver=world.driver, home=tmp_path)  # type: ignore[arg-type]
    monkeypatch.setattr(lambdas, "cloud_runtime", lambda: runtime)
    for name, value in {
        "DEXA_GITHUB_WEBHOOK_SECRET": SECRET,
        "DEXA_SLACK_SIGNING_SECRET": SECRET,
        "DEXA_SLACK_BOT_TOKEN": "xoxb-test",
        "DEXA_SLACK_API_URL": slack.api_url,
        "DEXA_PUBLIC_URL": "https://api.dexa.test/v1",
    }.items():
        monkeypatch.setenv(name, value)

    async def org() -> None:
        auth = AuthService(world.store)
        await auth.create_org("acme", org_id="o")
        await auth.create_user("o", "bot", "member", user_id="usr_bot")
        await auth.create_user("o", "rita", "reviewer", user_id="usr_rita")

    asyncio.run(org())
    handler = runpy.run_path(str(ROOT / "functions" / "webhooks" / "handler.py"))["handler"]
    return Hooks(world=world, slack=slack, handler=handler)


def _github(name: str = "webhook_github_mention.json", **payload_changes: Any) -> dict[str, Any]:
    event = _event(name)
    if payload_changes:
        event["body"] = json.dumps({**json.loads(event["body"]), **payload_changes})
    event["headers"]["X-Hub-Signature-256"] = github_signature(SECRET, event["body"].encode())
    return event


def test_a_mention_on_a_linked_repo_starts_a_turn_as_the_orgs_user(
    world_factory: Callable[..., World], slack: SlackFake, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    hooks = _hooks(world_factory([text("fixed the greeting")], []), slack, monkeypatch, tmp_path)
    status, body = hooks.call(_github())
    assert (status, body["status"]) == (200, "ignored") and "octo/hello" in body["reason"]  # not linked yet

    asyncio.run(link_github(hooks.world.store, "o", run_as="usr_bot", repos=["octo/hello"]))
    event = _github()
    event["headers"]["X-GitHub-Delivery"] = "second-delivery"
    event["headers"]["X-Hub-Signature-256"] = github_signature(SECRET, event["body"].encode())
    status, body = hooks.call(event)
    assert (status, body["status"]) == (202, "started"), body
    assert hooks.call(event)[1]["status"] == "duplicate"
    sid = body["session_id"]
    execution = hooks.world.driver.execution_arn(f"{sid}-t1")
    assert hooks.world.wait(execution)["status"] == "SUCCEEDED"
    session = asyncio.run(hooks.world.store.get_session(sid))
    assert (session.org_id, session.user_id, session.result) == ("o", "usr_bot", "fixed the greeting")
    assert session.config.extra["requested_by"] == "github:mona"
    assert session.config.sources == ("github:octo/hello",) and session.config.headless
    asked = asyncio.run(hooks.world.store.kv_get("github_triggers", sid, org_id="o"))
    assert asked is not None and asked["sender"] == "mona" and asked["number"] == 7
    prompt = asyncio.run(hooks.world.store.kv_get("prompts", f"{sid}:1"))
    assert prompt is not None and prompt["prompt"].startswith("please fix the greeting and open a PR")


def test_a_mention_by_an_outsider_or_a_bad_signature_starts_nothing(
    world_factory: Callable[..., World], slack: SlackFake, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    hooks = _hooks(world_factory([text("unused")], []), slack, monkeypatch, tmp_path)
    asyncio.run(link_github(hooks.world.store, "o", run_as="usr_bot", repos=["octo/hello"]))
    outsider = json.loads(_event("webhook_github_mention.json")["body"])
    outsider["comment"]["author_association"] = "NONE"
    status, body = hooks.call(_github(comment=outsider["comment"]))
    assert (status, body["status"]) == (200, "ignored") and "may not start sessions" in body["reason"]
    forged = _github()
    forged["headers"]["X-Hub-Signature-256"] = "sha256=" + "0" * 64
    assert hooks.call(forged)[0] == 401
    assert {s.id for s in asyncio.run(hooks.world.store.list_sessions(org_id="o"))} == {"ses_1"}  # the world's own


def test_another_org_cannot_claim_a_linked_repo(
    world_factory: Callable[..., World], slack: SlackFake, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    hooks = _hooks(world_factory([text("unused")], []), slack, monkeypatch, tmp_path)

    async def go() -> None:
        await link_github(hooks.world.store, "o", run_as="usr_bot", repos=["octo/hello"])
        auth = AuthService(hooks.world.store)
        await auth.create_org("evil", org_id="o2")
        await auth.create_user("o2", "x", "admin", user_id="usr_x")
        with pytest.raises(ConflictError):
            await link_github(hooks.world.store, "o2", run_as="usr_x", repos=["octo/hello"])

    asyncio.run(go())


def _click(hooks: Hooks, slack_user: str, decision: str = "once") -> dict[str, Any]:
    (approval,) = asyncio.run(hooks.world.store.list_approvals(hooks.world.session_id, status="pending"))
    payload = {
        "type": "block_actions",
        "team": {"id": TEAM},
        "user": {"id": slack_user, "team_id": TEAM},
        "response_url": hooks.slack.response_url(slack_user),
        "actions": [
            {
                "type": "button",
                "action_id": "dexa_approve",
                "value": json.dumps(
                    {"session_id": hooks.world.session_id, "approval_id": approval.id, "decision": decision}
                ),
            }
        ],
    }
    body = "payload=" + urllib.parse.quote(json.dumps(payload))
    ts = str(int(time.time()))
    event = _event("webhook_slack_approval.json")
    event["body"] = body
    event["headers"] = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": slack_signature(SECRET, ts, body.encode()),
    }
    return event


def test_only_a_mapped_reviewer_decides_in_slack_and_others_are_refused_privately(
    world_factory: Callable[..., World], slack: SlackFake, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    append = AppendTool()
    world = world_factory(
        [tool_use("Append", {"path": "x", "line": "y"}), text("done")], [append], policy=RulePolicy(ask={"Append"})
    )
    hooks = _hooks(world, slack, monkeypatch, tmp_path)
    asyncio.run(set_review_channels(world.store, "o", ReviewChannels(slack_team=TEAM, slack_channel="C0REVIEW")))
    asyncio.run(map_slack_user(world.store, "o", "U0RITA", "usr_rita"))
    arn = asyncio.run(world.start())
    world.wait(arn, until=lambda _: any(a.task_token for a in asyncio.run(world.store.list_approvals("ses_1"))))

    status, body = hooks.call(_click(hooks, "U0STRANGER"))
    assert status == 200 and body["response_type"] == "ephemeral" and body["replace_original"] is False
    assert slack.responses[-1]["path"] == "/actions/U0STRANGER" and "not a Dexa reviewer" in slack.responses[-1]["text"]
    assert [a.status for a in asyncio.run(world.store.list_approvals("ses_1"))] == ["pending"]
    assert world.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING" and append.runs == 0

    status, body = hooks.call(_click(hooks, "U0RITA"))
    assert status == 200 and body["replace_original"] is True and "allowed" in body["text"]
    assert world.wait(arn)["status"] == "SUCCEEDED" and append.runs == 1
    (decided,) = asyncio.run(world.store.list_approvals("ses_1"))
    assert decided.decided_by == "usr_rita"


class _Queue:
    """The staged-output queue as the receiver sees it: one pending output of org "o"."""

    def __init__(self) -> None:
        self.decided: list[tuple[str, str, str]] = []

    async def get(self, org_id: str, output_id: str) -> dict[str, Any]:
        if (org_id, output_id) != ("o", "out_1"):
            from dexa.core.errors import NotFoundError

            raise NotFoundError(f"no output {output_id}")
        return {"id": output_id}

    async def approve(self, org_id: str, output_id: str, *, by: str) -> dict[str, Any]:
        if self.decided:
            raise ConflictError("already decided")
        self.decided.append(("approve", output_id, by))
        return {}

    async def reject(self, org_id: str, output_id: str, *, by: str, reason: str = "") -> dict[str, Any]:
        self.decided.append(("reject", output_id, by))
        return {}


def test_a_staged_output_button_needs_a_reviewer_of_the_outputs_org(
    world_factory: Callable[..., World], slack: SlackFake, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from dexa.cloud.webhooks import WebhookReceiver

    world = world_factory([text("unused")], [])
    _hooks(world, slack, monkeypatch, tmp_path)  # org "o" with reviewer usr_rita
    asyncio.run(set_review_channels(world.store, "o", ReviewChannels(slack_team=TEAM, slack_channel="C0REVIEW")))
    asyncio.run(map_slack_user(world.store, "o", "U0RITA", "usr_rita"))
    queue = _Queue()
    receiver = WebhookReceiver(world.engine, None, lambda _p: SECRET, outputs=lambda: queue)

    def click(slack_user: str, team: str = TEAM, output_id: str = "out_1") -> dict[str, Any]:
        value = json.dumps({"output_id": output_id, "decision": "approve"})
        payload = {
            "type": "block_actions",
            "team": {"id": team},
            "user": {"id": slack_user},
            "actions": [{"value": value}],
        }
        body = "payload=" + urllib.parse.quote(json.dumps(payload))
        ts = str(int(time.time()))
        headers = {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": slack_signature(SECRET, ts, body.encode())}
        out = asyncio.run(receiver.handle({"pathParameters": {"provider": "slack"}, "headers": headers, "body": body}))
        return json.loads(out["body"])

    assert click("U0STRANGER")["response_type"] == "ephemeral" and queue.decided == []
    assert click("U0RITA", team="T0OTHER")["response_type"] == "ephemeral" and queue.decided == []
    assert click("U0RITA", output_id="out_of_another_org")["response_type"] == "ephemeral"
    assert "approved" in click("U0RITA")["text"] and queue.decided == [("approve", "out_1", "usr_rita")]
    assert "Already decided" in click("U0RITA")["text"]
