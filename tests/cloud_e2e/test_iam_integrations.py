"""The IAM audit (iam_audit.py) over the functions test_scenarios_more.py does not reach: the webhooks function (a
signed GitHub delivery that starts a session, a signed Slack approval click, mail received through SES), the step
function's mailer and the emailed link redeemed through the API, and the reconciler (a failed execution
reconciled). Every request those
functions make is recorded and checked against the deployed role of the function that made it.

The org is this module's own (`dexa cloud add-org`); it links its own repository and Slack user, so the module
needs no other to have run before it."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import pytest

from .client import ApiClient
from .harness import DEMO_REPO, GITHUB_WEBHOOK_SECRET, SLACK_CHANNEL, SLACK_SIGNING_SECRET, Cloud
from .iam_audit import AuditProxy, audited
from .iam_audit import audit as audit_calls
from .test_browser_front import add_org
from .test_deployed import ANNOUNCE_S, execution_of, github_delivery, slack_click, wait_execution

pytestmark = pytest.mark.timeout(600)

REVIEWER_MAIL = "iam-reviewer@e2e.example"
SLACK_USER = "U0IAMREV"
# A workspace of its own: a Slack team links to one org, and the deployment is shared with test_deployed's org.
SLACK_TEAM = "T0IAMAUDIT"


@pytest.fixture(scope="module")
def audit(cloud: Cloud) -> Iterator[AuditProxy]:
    with audited(cloud) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def admin(cloud: Cloud, audit: AuditProxy) -> ApiClient:
    org = add_org(cloud, "iam-integrations")
    return ApiClient(cloud.api.url, org["token"])


@pytest.fixture(scope="module")
def reviewers(admin: ApiClient) -> dict[str, Any]:
    """A reviewer reached in Slack (mapped to a Dexa user) and by mail, for this module's org."""
    reviewer = admin.ok("POST", "/users", json={"name": "iam-rita", "role": "reviewer"})
    admin.ok(
        "PUT",
        "/review-channels",
        json={"slack_team": SLACK_TEAM, "slack_channel": SLACK_CHANNEL, "emails": [REVIEWER_MAIL]},
    )
    admin.ok("PUT", "/slack-users", json={"slack_user": SLACK_USER, "user_id": reviewer["id"]})
    return reviewer


def test_a_signed_github_mention_starts_a_session(cloud: Cloud, admin: ApiClient) -> None:
    me = admin.ok("GET", "/me")
    admin.ok("PUT", "/triggers/github", json={"run_as": me["user_id"], "repos": [DEMO_REPO]})
    owner, name = DEMO_REPO.split("/")
    payload = {
        "action": "created",
        "issue": {"number": 3, "title": "Say hello", "html_url": f"https://github.com/{DEMO_REPO}/issues/3",
                  "body": "", "user": {"login": "mona", "type": "User"}},
        "comment": {"id": 3003, "body": "@dexa [script:hello] say hello",
                    "user": {"login": "mona", "type": "User"}, "author_association": "MEMBER"},
        "repository": {"full_name": DEMO_REPO, "name": name, "owner": {"login": owner}, "default_branch": "main"},
        "sender": {"login": "mona", "type": "User"},
    }  # fmt: skip
    delivery = str(uuid.uuid4())
    started = github_delivery(cloud, "issue_comment", payload, delivery=delivery, secret=GITHUB_WEBHOOK_SECRET)
    assert started.status_code == 202 and started.json()["status"] == "started", started.text
    sid = started.json()["session_id"]
    again = github_delivery(cloud, "issue_comment", payload, delivery=delivery, secret=GITHUB_WEBHOOK_SECRET)
    assert again.json()["status"] == "duplicate", again.text
    admin.watch(sid, until="turn.completed", timeout=240)
    assert admin.session(sid)["result"] == "Hello from the emulated cloud."


def announced(find: Any, what: str, timeout: float = ANNOUNCE_S) -> list[Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = find()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"never announced: {what}")


def test_a_signed_slack_click_approves(cloud: Cloud, admin: ApiClient, reviewers: dict[str, Any]) -> None:
    sid = admin.create_session("[script:approve_slack] write slacked.txt")["id"]
    admin.watch(sid, until="permission.required", timeout=240)
    (post,) = announced(lambda: [p for p in cloud.slack_seen("posts") if sid in json.dumps(p)], f"{sid} in Slack")
    buttons = {b["action_id"]: b for block in post["blocks"] for b in block.get("elements", [])}
    decided = slack_click(
        cloud, buttons["dexa_approve"], slack_user=SLACK_USER, signing_secret=SLACK_SIGNING_SECRET, team=SLACK_TEAM
    )
    assert decided.status_code == 200 and decided.json()["replace_original"] is True, decided.text
    admin.watch(sid, until="turn.completed", timeout=240)
    (approval,) = admin.ok("GET", f"/sessions/{sid}/approvals")["data"]
    assert approval["decided_by"] == reviewers["id"], approval
    assert wait_execution(cloud, sid) == "SUCCEEDED"


def test_an_emailed_link_approves(cloud: Cloud, admin: ApiClient, reviewers: dict[str, Any]) -> None:
    sid = admin.create_session("[script:approve_mail] write mailed.txt")["id"]
    admin.watch(sid, until="permission.required", timeout=240)

    def mails() -> list[dict[str, Any]]:
        return [m for m in cloud.sent_mail() if REVIEWER_MAIL in json.dumps(m["destinations"]) and sid in m["body"]]

    (mail,) = announced(mails, f"mail about {sid}")
    links = re.findall(r"/outputs/review\?token=([^\s\"'<>&]+)", mail["body"])
    assert links, mail["body"]
    token = unquote(links[0])  # the first link approves (as test_deployed's emailed-link scenario)
    admin.ok("POST", "/approval-links/redeem", json={"token": token})
    admin.watch(sid, until="turn.completed", timeout=240)
    assert wait_execution(cloud, sid) == "SUCCEEDED"


def test_mail_to_the_orgs_address_starts_a_session(cloud: Cloud, admin: ApiClient) -> None:
    """SES inbound: the receipt rule stores the message in the inbound bucket and invokes the webhooks function
    asynchronously with its metadata; the function reads the message from the bucket and starts a session as the
    user the sender maps to."""
    from email.message import EmailMessage

    from .synth import INBOUND_MAIL_DOMAIN

    me = admin.ok("GET", "/me")
    address = f"iam-org@{INBOUND_MAIL_DOMAIN}"
    sender = "alice@corp.example"
    admin.ok("PUT", "/triggers/email", json={"address": address, "senders": {sender: me["user_id"]}})
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, address, "[script:hello] say hello"
    message["Message-ID"] = f"<{uuid.uuid4().hex}@corp.example>"
    message.set_content("Please say hello.")
    (event,) = cloud.receive_mail(bytes(message), recipients=[address], sender=sender)
    event.wait(120)
    assert event.outcome == "succeeded", (event.outcome, event.attempts)
    (result,) = json.loads(event.attempts[-1][1])["results"]
    assert result["status"] == "started", result
    sid = result["session_id"]
    admin.watch(sid, until="turn.completed", timeout=240)
    assert admin.session(sid)["result"] == "Hello from the emulated cloud."


def test_a_failed_execution_is_reconciled(cloud: Cloud, admin: ApiClient) -> None:
    sid = admin.create_session("[script:dies] work a bit", permission_mode="bypassPermissions")["id"]
    admin.watch(sid, until="tool.started", timeout=240)
    execution = execution_of(cloud, sid)
    cloud.client("stepfunctions").stop_execution(executionArn=execution["executionArn"], error="Died", cause="iam")
    assert wait_execution(cloud, sid) == "ABORTED"
    admin.watch(sid, until="turn.failed", timeout=120)
    assert any(d["event"]["detail"]["executionArn"] == execution["executionArn"] for d in cloud.relay.delivered)
    deadline = time.monotonic() + 60
    while admin.session(sid)["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert admin.session(sid)["status"] != "running"


def test_every_call_of_the_integration_functions_is_allowed_by_its_role(cloud: Cloud, audit: AuditProxy) -> None:
    """Last in the module: the recorded calls of the scenarios above, each against its function's deployed role."""
    found, used = audit_calls(cloud, audit.calls)
    summary = {fn.rsplit("-", 1)[0][-40:]: sorted(actions) for fn, actions in used.items()}
    print(f"\ncloud-e2e: IAM audit of {len(audit.calls)} requests: {json.dumps(summary, indent=1)}")
    names = " ".join(used)
    # The functions this module is for were seen, each making AWS calls of its own.
    for part in ("-Webhooks", "-Reconciler", "-AgentStep", "-Api"):
        assert part.lower() in names.lower(), (part, sorted(used))
    report = [f"{f.verdict}: {f.function} {f.need.action} on {list(f.need.resources)} ({f.need.what})" for f in found]
    assert not report, "\n".join(report)
