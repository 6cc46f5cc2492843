"""Mail to an org's address in the cloud: the webhooks Lambda's front (dexa.cloud.webhooks.InboundReceiver) given
the event SES sends after its S3 action stored the message (in moto's S3), or an SNS notification carrying it.
The session starts as the sender's Dexa user; failed SPF and DKIM, unknown senders and SES spam verdicts start
nothing; Slack's url_verification reaches the Slack events handler on its own path."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from trigger_kit import SIGNING_SECRET, slack_headers

from dexa.auth.service import AuthService
from dexa.cloud.webhooks import InboundReceiver
from dexa.core.errors import StorageError
from dexa.settings import DexaSettings
from dexa.testing.messages_api import serve as serve_model
from dexa.triggers.email import set_email_trigger
from dexa.wiring import build_runtime

pytestmark = pytest.mark.anyio

BUCKET, PREFIX, ADDRESS = "dexa-inbound-mail", "mail/", "acme@in.dexa.test"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def s3() -> Iterator[Any]:
    import boto3.session
    from moto import mock_aws

    with mock_aws():
        # A session of its own: boto3's default one may predate moto's hook, and its client would then reach AWS.
        client = boto3.session.Session().client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


class Cloud:
    def __init__(self, tmp: Path, s3: Any) -> None:
        script = tmp / "script.json"
        script.write_text(json.dumps({"turns": [{"text": "On it."}]}))
        self.model = serve_model(script)
        env = {
            "ANTHROPIC_BASE_URL": self.model.url,
            "ANTHROPIC_API_KEY": "sk-test",
            "DEXA_INBOUND_MAIL_BUCKET": BUCKET,
            "DEXA_INBOUND_MAIL_PREFIX": PREFIX,
            "DEXA_SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "HOME": str(tmp / "home"),
        }
        self.runtime = build_runtime(DexaSettings(home=tmp / "dexa"), env=env)
        self.receiver = InboundReceiver(self.runtime, env, inner=None, s3=s3)
        self.s3 = s3

    async def org(self) -> str:
        auth = AuthService(self.runtime.store)
        await auth.create_org("Acme", org_id="org_acme")
        ana = await auth.create_user("org_acme", "Ana", "member")
        await set_email_trigger(self.runtime.store, "org_acme", address=ADDRESS, senders={"ana@acme.example": ana.id})
        return ana.id

    async def aclose(self) -> None:
        await self.runtime.aclose()
        self.model.close()


@pytest.fixture
async def cloud(tmp_path: Path, s3: Any) -> Any:
    c = Cloud(tmp_path, s3)
    yield c
    await c.aclose()


def _raw(sender: str, message_id: str, subject: str = "Book a follow-up with Dana") -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"], msg["Message-ID"] = sender, ADDRESS, subject, message_id
    msg.set_content("Dana asked for 30 minutes next Wednesday.")
    return msg.as_bytes()


def _receipt(verdict: str = "PASS", *, spam: str = "PASS", action: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "timestamp": "2020-01-01T03:00:00.000Z",
        "processingTimeMillis": 574,
        "recipients": [ADDRESS],
        "spamVerdict": {"status": spam},
        "virusVerdict": {"status": "PASS"},
        "spfVerdict": {"status": verdict},
        "dkimVerdict": {"status": verdict},
        "dmarcVerdict": {"status": verdict},
        "action": action
        or {
            "type": "Lambda",
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:dexa-webhooks",
            "invocationType": "Event",
        },
    }


def _mail(ses_id: str, sender: str) -> dict[str, Any]:
    return {
        "timestamp": "2020-01-01T03:00:00.000Z",
        "source": sender,
        "messageId": ses_id,
        "destination": [ADDRESS],
        "headersTruncated": False,
        "commonHeaders": {"from": [sender], "to": [ADDRESS], "subject": "Book a follow-up with Dana"},
    }


def _lambda_event(ses_id: str, sender: str, **receipt: Any) -> dict[str, Any]:
    """What SES passes to a Lambda action (metadata only; the message is in S3)."""
    ses = {"mail": _mail(ses_id, sender), "receipt": _receipt(**receipt)}
    return {"Records": [{"eventSource": "aws:ses", "eventVersion": "1.0", "ses": ses}]}


async def test_a_stored_message_starts_a_session_as_its_sender(cloud: Cloud) -> None:
    ana = await cloud.org()
    cloud.s3.put_object(Bucket=BUCKET, Key=PREFIX + "o3vrnil0e2ic", Body=_raw("Ana <ana@acme.example>", "<a1@acme>"))
    answer = await cloud.receiver.handle(_lambda_event("o3vrnil0e2ic", "ana@acme.example"))
    (result,) = answer["results"]
    assert answer["disposition"] == "CONTINUE" and result["status"] == "started", result
    session = await cloud.runtime.store.get_session(result["session_id"])
    assert session.org_id == "org_acme" and session.user_id == ana
    assert session.config.extra["requested_by"] == "email:ana@acme.example"
    assert session.config.extra["reply_to"] == {"email": "ana@acme.example"}
    audit = await cloud.runtime.store.kv_list("audit", org_id="org_acme")
    assert [(a["action"], a["actor"], a["target"]) for a in audit] == [("session.trigger", ana, session.id)]

    again = await cloud.receiver.handle(_lambda_event("o3vrnil0e2ic", "ana@acme.example"))
    assert again["results"][0]["status"] == "duplicate"


async def test_spoofed_spam_and_unknown_senders_start_nothing(cloud: Cloud) -> None:
    await cloud.org()
    cloud.s3.put_object(Bucket=BUCKET, Key=PREFIX + "spoof", Body=_raw("ana@acme.example", "<s1@x>"))
    cloud.s3.put_object(Bucket=BUCKET, Key=PREFIX + "stranger", Body=_raw("eve@evil.example", "<s2@x>"))
    spoofed = await cloud.receiver.handle(_lambda_event("spoof", "ana@acme.example", verdict="FAIL"))
    assert "failed SPF and DKIM" in spoofed["results"][0]["reason"]
    spam = await cloud.receiver.handle(_lambda_event("spoof", "ana@acme.example", spam="FAIL"))
    assert "spam" in spam["results"][0]["reason"]
    stranger = await cloud.receiver.handle(_lambda_event("stranger", "eve@evil.example"))
    assert stranger["results"][0] == {
        "message_id": "stranger",
        "status": "rejected",
        "reason": "eve@evil.example is not a known sender",
        "session_id": None,
    }
    assert await cloud.runtime.store.list_sessions(org_id="org_acme") == []


async def test_a_message_missing_from_the_bucket_fails_the_invocation_so_ses_retries(cloud: Cloud) -> None:
    await cloud.org()
    with pytest.raises(StorageError, match=f"s3://{BUCKET}/{PREFIX}gone"):
        await cloud.receiver.handle(_lambda_event("gone", "ana@acme.example"))


async def test_an_sns_notification_carries_the_message_itself(cloud: Cloud) -> None:
    ana = await cloud.org()
    action = {"type": "SNS", "topicArn": "arn:aws:sns:us-east-1:123456789012:dexa-mail", "encoding": "BASE64"}
    note = {
        "notificationType": "Received",
        "mail": _mail("sns1", "ana@acme.example"),
        "receipt": _receipt(action=action),
        "content": base64.b64encode(_raw("ana@acme.example", "<n1@acme>")).decode(),
    }
    event = {"Records": [{"EventSource": "aws:sns", "Sns": {"Type": "Notification", "Message": json.dumps(note)}}]}
    (result,) = (await cloud.receiver.handle(event))["results"]
    assert result["status"] == "started"
    assert (await cloud.runtime.store.get_session(result["session_id"])).user_id == ana


async def test_slack_events_have_their_own_path_through_the_same_front(cloud: Cloud) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "abc"}).encode()
    event = {
        "pathParameters": {"provider": "slack-events"},
        "headers": slack_headers(body),
        "body": body.decode(),
        "isBase64Encoded": False,
    }
    answer = await cloud.receiver.handle(event)
    assert answer["statusCode"] == 200 and json.loads(answer["body"]) == {"challenge": "abc"}
    forged = {**event, "headers": slack_headers(body, secret="wrong")}
    assert (await cloud.receiver.handle(forged))["statusCode"] == 401


async def test_a_task_template_webhook_through_the_same_front(cloud: Cloud) -> None:
    from dexa.triggers.templates import save_template, sign

    ana = await cloud.org()
    template = await save_template(
        cloud.runtime.store, "org_acme", name="triage", prompt="Triage {{issue.title}}", run_as=ana, by=ana
    )
    body = json.dumps({"issue": {"title": "Checkout is down"}}).encode()
    event = {
        "pathParameters": {"template_id": template.id},
        "headers": {"X-Dexa-Signature-256": sign(template.secret, body)},
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }
    answer = await cloud.receiver.handle(event)
    assert answer["statusCode"] == 202, answer
    session = await cloud.runtime.store.get_session(json.loads(answer["body"])["session_id"])
    assert session.user_id == ana and session.config.extra["requested_by"] == f"webhook:{template.id} (as {ana})"
    unsigned = {**event, "headers": {}}
    assert (await cloud.receiver.handle(unsigned))["statusCode"] == 401
