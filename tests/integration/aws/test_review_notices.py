"""A tool call waiting on Step Functions (moto) is announced once: Approve/Reject buttons through chat.postMessage to a
local Slack fake, and a mail through SES (moto) whose single-use links are signed with the stack's Secrets Manager
key. The emailed approve link, redeemed through the API, resumes the turn; the posted button, clicked by a mapped
reviewer, decides too. A rotated key still verifies links already sent."""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import httpx
import pytest
from fastapi.testclient import TestClient
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from sfn_world import World

from dexa.adapters.aws.secrets import SecretReader, link_keys
from dexa.adapters.aws.ses_mailer import SesMailer
from dexa.api.app import create_app
from dexa.api.fake_runtime import FakeRuntime
from dexa.api.sse import StreamConfig
from dexa.auth.org_links import ReviewChannels, map_slack_user, set_review_channels
from dexa.auth.service import AuthService
from dexa.cloud.webhooks import WebhookReceiver
from dexa.core.errors import PermissionDeniedError
from dexa.integrations.outputs.links import ApprovalLinks
from dexa.integrations.review_notify import ReviewNotifier
from dexa.integrations.slack_clicks import slack_signature
from dexa.integrations.slack_review import HttpSlackApi
from dexa.testing.fakes import AppendTool, RulePolicy
from dexa.testing.scripted import text, tool_use
from dexa.testing.slack_fake import SlackFake

REVIEWER = "rita@acme.test"


@pytest.fixture
def slack() -> Iterator[SlackFake]:
    fake = SlackFake(token="xoxb-test").start()
    yield fake
    fake.stop()


def _sent() -> list[Any]:
    return list(ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages)


def _waiting(world_factory: Callable[..., World], slack: SlackFake) -> tuple[World, AppendTool, str, ApprovalLinks]:
    append = AppendTool()
    world = world_factory(
        [tool_use("Append", {"path": "notes.txt", "line": "ship it"}), text("done")],
        [append],
        policy=RulePolicy(ask={"Append"}),
    )
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    key_arn = sm.create_secret(Name="dexa-link-key", SecretString="k" * 64)["ARN"]
    boto3.client("sesv2", region_name="us-east-1").create_email_identity(EmailIdentity="acme.test")
    links = ApprovalLinks(
        link_keys(SecretReader({"DEXA_LINK_KEY_ARN": key_arn}, client=sm)),
        base_url="https://api.dexa.test/v1",
        kv=world.store,
    )
    notifier = ReviewNotifier(
        world.store,
        slack=HttpSlackApi("xoxb-test", http=httpx.AsyncClient(timeout=5), base_url=slack.api_url),
        mailer=SesMailer("dexa@acme.test", client=boto3.client("sesv2", region_name="us-east-1")),
        links=lambda: links,
    )
    world.engine.observers.append(notifier)

    async def org() -> None:
        auth = AuthService(world.store)
        await auth.create_org("acme", org_id="o")
        await auth.create_user("o", "rita", "reviewer", user_id="usr_rita")
        channels = ReviewChannels(slack_team="T0ACME", slack_channel="C0REVIEW", emails=(REVIEWER,))
        await set_review_channels(world.store, "o", channels)
        await map_slack_user(world.store, "o", "U0RITA", "usr_rita")

    asyncio.run(org())
    arn = asyncio.run(world.start())
    world.wait(arn, until=lambda _: any(a.task_token for a in asyncio.run(world.store.list_approvals("ses_1"))))
    return world, append, arn, links


def test_a_waiting_tool_call_is_posted_and_mailed_once_and_the_emailed_link_resumes_the_turn(
    world_factory: Callable[..., World], slack: SlackFake, tmp_path: Any
) -> None:
    world, append, arn, links = _waiting(world_factory, slack)
    (post,) = slack.posts
    assert post["channel"] == "C0REVIEW" and "Append" in post["text"]
    buttons = post["blocks"][1]["elements"]
    assert [b["text"]["text"] for b in buttons] == ["Approve", "Reject"]
    (pending,) = asyncio.run(world.store.list_approvals("ses_1"))
    assert json.loads(buttons[0]["value"]) == {"approval_id": pending.id, "decision": "once", "session_id": "ses_1"}
    (mail,) = _sent()
    assert mail.destinations == {"ToAddresses": [REVIEWER]} and mail.source == "dexa@acme.test"
    approve, reject = re.findall(r"https://api\.dexa\.test/v1/outputs/review\?token=(\S+)", mail.body)
    token = urllib.parse.unquote(approve)
    assert links.peek(token).kind == "tool" and links.peek(urllib.parse.unquote(reject)).action == "reject"

    runtime = FakeRuntime(store=world.store, engine=world.engine, driver=world.driver, home=tmp_path)  # type: ignore[arg-type]
    app = create_app(runtime, approval_links=links, stream=StreamConfig(buffered=True))  # type: ignore[arg-type]

    async def key() -> str:
        return (await AuthService(world.store).create_key("o", "usr_rita", "browser"))[1]

    headers = {"Authorization": f"Bearer {asyncio.run(key())}"}
    with TestClient(app) as client:
        peek = client.post("/approval-links/peek", json={"token": token}, headers=headers)
        assert peek.status_code == 200 and peek.json()["approval"]["tool_name"] == "Append", peek.text
        done = client.post("/approval-links/redeem", json={"token": token}, headers=headers)
        assert done.status_code == 200 and done.json()["approval"]["status"] == "allowed", done.text
        assert world.wait(arn)["status"] == "SUCCEEDED" and append.runs == 1
        again = client.post("/approval-links/redeem", json={"token": token}, headers=headers)
        assert again.status_code == 409
    (decided,) = asyncio.run(world.store.list_approvals("ses_1"))
    assert decided.decided_by == "usr_rita"
    assert len(slack.posts) == 1 and len(_sent()) == 1  # announced once


def test_the_posted_reject_button_clicked_by_the_mapped_reviewer_denies(
    world_factory: Callable[..., World], slack: SlackFake
) -> None:
    world, append, arn, _ = _waiting(world_factory, slack)
    reject = slack.posts[0]["blocks"][1]["elements"][1]["value"]
    payload = {
        "type": "block_actions",
        "team": {"id": "T0ACME"},
        "user": {"id": "U0RITA"},
        "actions": [{"value": reject}],
    }
    body = "payload=" + urllib.parse.quote(json.dumps(payload))
    ts = str(int(time.time()))
    headers = {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": slack_signature("sig", ts, body.encode())}
    receiver = WebhookReceiver(world.engine, world.driver.approvals, lambda _p: "sig")
    out = asyncio.run(receiver.handle({"pathParameters": {"provider": "slack"}, "headers": headers, "body": body}))
    assert out["statusCode"] == 200 and "denied" in json.loads(out["body"])["text"]
    assert world.wait(arn)["status"] == "SUCCEEDED" and append.runs == 0


def test_a_rotated_key_still_verifies_links_already_sent_and_a_foreign_key_never_does(aws: None) -> None:
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    arn = sm.create_secret(Name="dexa-link-key", SecretString="a" * 64)["ARN"]

    class Kv:
        async def kv_put_if_absent(self, *args: Any, **kwargs: Any) -> bool:
            return True

    def signer() -> ApprovalLinks:
        return ApprovalLinks(link_keys(SecretReader({"DEXA_LINK_KEY_ARN": arn}, client=sm)), base_url="x", kv=Kv())  # type: ignore[arg-type]

    sent = signer().tool_token("o", "ses_1", "ap_1", "approve")
    sm.put_secret_value(SecretId=arn, SecretString="b" * 64)  # rotation: the old key becomes AWSPREVIOUS
    rotated = signer()
    assert rotated.peek(sent).output_id == "ap_1"
    fresh = rotated.tool_token("o", "ses_1", "ap_2", "approve")
    assert ApprovalLinks(b"b" * 64, base_url="x", kv=Kv()).peek(fresh).output_id == "ap_2"  # type: ignore[arg-type]
    with pytest.raises(PermissionDeniedError):
        ApprovalLinks(b"c" * 64, base_url="x", kv=Kv()).peek(sent)  # type: ignore[arg-type]
