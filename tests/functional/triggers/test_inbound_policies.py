"""The inbound triggers' rules on a real SQLite store, where the end-to-end tests do not reach: routing of unmapped
senders per org policy, address ownership between orgs, Slack's replay window, HTML mail and template variables."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from trigger_kit import slack_headers

from dexa.adapters.sqlite import SqliteStore
from dexa.auth.org_links import ReviewChannels, set_review_channels
from dexa.auth.service import AuthService
from dexa.core.errors import ConfigError, ConflictError, PermissionDeniedError
from dexa.triggers.email import EmailTriggers, parse_message, set_email_trigger
from dexa.triggers.inbound import InboundTask
from dexa.triggers.slack_events import SlackEvents, set_slack_trigger
from dexa.triggers.templates import render

pytestmark = pytest.mark.anyio
SECRET = "slack-signing-secret-for-tests"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    db = SqliteStore(tmp_path / "dexa.db")
    yield db
    db.close()


class Started:
    def __init__(self) -> None:
        self.tasks: list[InboundTask] = []

    async def __call__(self, task: InboundTask) -> str:
        self.tasks.append(task)
        return f"ses_{len(self.tasks)}"


async def _org(store: SqliteStore, org_id: str) -> dict[str, str]:
    auth = AuthService(store)
    await auth.create_org(org_id, org_id=org_id)
    users = {role: (await auth.create_user(org_id, role, role)).id for role in ("admin", "member", "reviewer")}
    return users


def _raw(sender: str, body: str, *, html: bool = False, message_id: str = "<x@y>") -> bytes:
    kind = "text/html" if html else "text/plain"
    return (
        f"From: {sender}\r\nTo: Acme <acme@in.dexa.test>\r\nSubject: Hi\r\nMessage-ID: {message_id}\r\n"
        f"Content-Type: {kind}; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


async def test_an_org_may_route_unmapped_senders_to_a_user_it_names(store: SqliteStore) -> None:
    users = await _org(store, "org_a")
    await set_email_trigger(store, "org_a", address="acme@in.dexa.test", senders={}, unknown_sender=users["member"])
    started = Started()
    result = await EmailTriggers(store, started).handle(parse_message(_raw("new@customer.example", "Help")))
    assert result.status == "started"
    (task,) = started.tasks
    assert task.user_id == users["member"] and task.requested_by == "email:new@customer.example (unmapped sender)"
    with pytest.raises(PermissionDeniedError, match="may not start sessions"):
        await set_email_trigger(
            store, "org_a", address="acme@in.dexa.test", senders={}, unknown_sender=users["reviewer"]
        )


async def test_an_address_belongs_to_one_org_and_is_released_when_the_org_moves(store: SqliteStore) -> None:
    a, b = await _org(store, "org_a"), await _org(store, "org_b")
    await set_email_trigger(store, "org_a", address="Shared <shared@in.dexa.test>", senders={})
    with pytest.raises(ConflictError, match="another org"):
        await set_email_trigger(store, "org_b", address="shared@in.dexa.test", senders={})
    await set_email_trigger(store, "org_a", address="a@in.dexa.test", senders={"x@y.io": a["member"]})
    await set_email_trigger(store, "org_b", address="shared@in.dexa.test", senders={"x@y.io": b["member"]})
    started = Started()
    await EmailTriggers(store, started).handle(parse_message(_raw("x@y.io", "hi"), envelope_to=["shared@in.dexa.test"]))
    assert [t.org_id for t in started.tasks] == ["org_b"]
    with pytest.raises(ConfigError, match="must be an email address"):
        await set_email_trigger(store, "org_a", address="not an address", senders={})


def test_html_mail_becomes_text_and_a_message_without_a_sender_is_refused() -> None:
    mail = parse_message(_raw("a@b.io", "<p>Book <b>Dana</b> &amp; Sam</p><script>alert(1)</script>", html=True))
    assert " ".join(mail.text.split()) == "Book Dana & Sam"
    with pytest.raises(ConfigError, match="no From address"):
        parse_message(b"Subject: x\r\n\r\nbody\r\n")


async def test_slack_requests_outside_the_replay_window_are_refused(store: SqliteStore) -> None:
    events = SlackEvents(store, Started(), secret=lambda: SECRET)
    body = json.dumps({"type": "url_verification", "challenge": "c"}).encode()
    stale = slack_headers(body, secret=SECRET, now=time.time() - 600)
    assert await events.handle(stale, body) == (401, {"error": "stale or missing X-Slack-Request-Timestamp"})
    assert (await SlackEvents(store, Started(), secret=lambda: "").handle(slack_headers(body), body))[0] == 500


async def test_unmapped_slack_users_follow_the_org_policy(store: SqliteStore) -> None:
    users = await _org(store, "org_a")
    await set_review_channels(store, "org_a", ReviewChannels(slack_team="T0A", slack_channel="C0R"))
    started = Started()
    events = SlackEvents(store, started, secret=lambda: SECRET)
    mention = {"type": "app_mention", "user": "U0NEW", "channel": "C1", "ts": "1.1", "text": "<@U0DEXA> help"}
    body = json.dumps({"type": "event_callback", "team_id": "T0A", "event_id": "Ev1", "event": mention}).encode()
    assert (await events.handle(slack_headers(body, secret=SECRET), body))[1]["status"] == "rejected"

    await set_slack_trigger(store, "org_a", unknown_user=users["member"])
    body2 = body.replace(b"Ev1", b"Ev2")
    assert (await events.handle(slack_headers(body2, secret=SECRET), body2))[1]["status"] == "started"
    assert started.tasks[0].user_id == users["member"] and started.tasks[0].prompt == "help"

    other = body.replace(b"T0A", b"T0OTHER").replace(b"Ev1", b"Ev3")
    assert (await events.handle(slack_headers(other, secret=SECRET), other))[1]["status"] == "ignored"


def test_template_variables_read_paths_lists_and_objects_and_name_what_is_missing() -> None:
    payload = {"items": [{"sku": "A-1"}], "meta": {"n": 2}, "who": "Ana"}
    assert render("{{who}} ordered {{ items.0.sku }}; {{meta}}", payload) == 'Ana ordered A-1; {"n": 2}'
    with pytest.raises(ConfigError, match=r"lacks the template's variables: items\.1\.sku, nope"):
        render("{{nope}} {{items.1.sku}}", payload)
