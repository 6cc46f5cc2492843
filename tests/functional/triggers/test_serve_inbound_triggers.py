"""Inbound triggers in `dexa serve`: mail to the org's address (its SMTP listener), a Slack mention or DM (Events
API) and a signed webhook filling a saved task template each start a session as the Dexa user the sender maps to,
recorded in the audit log with who asked. The session stages its invite for the org's reviewers and tells the
person who asked where they asked; an unknown sender, a repeated delivery or a bad signature starts nothing.
"""

from __future__ import annotations

import json
import smtplib
import time
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from trigger_kit import CHANNEL, REVIEWER_EMAIL, TEAM, Stack, slack_headers, wait_until

from dexa.triggers.templates import sign

ADDRESS = "acme@in.dexa.test"


class Org:
    def __init__(self, stack: Stack) -> None:
        s = stack.served
        self.stack = stack
        self.ana = s.call("POST", "/users", {"name": "Ana", "role": "member"})["id"]
        self.rita = s.call("POST", "/users", {"name": "Rita", "role": "reviewer"})["id"]
        s.call("PUT", "/triggers/email", {"address": ADDRESS, "senders": {"Ana@Acme.example": self.ana}})
        s.call("PUT", "/slack-users", {"slack_user": "U0ANA", "user_id": self.ana})
        s.call("PUT", "/slack-users", {"slack_user": "U0RITA", "user_id": self.rita})

    def sessions(self) -> list[dict[str, Any]]:
        return self.stack.served.call("GET", "/sessions", None)["data"]

    def new_session(self, before: set[str]) -> dict[str, Any]:
        return wait_until(
            lambda: next((x for x in self.sessions() if x["id"] not in before), None), 30, "a triggered session"
        )

    def audit(self, session_id: str) -> dict[str, Any]:
        rows = self.stack.served.call("GET", "/audit?limit=1000")["data"]
        (entry,) = [r for r in rows if r["action"] == "session.trigger" and r["target"] == session_id]
        return entry


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Org]:
    stack = Stack(tmp_path_factory.mktemp("inbound"))
    yield Org(stack)
    stack.close()


def _mail(sender: str, subject: str, message_id: str, to: str = ADDRESS) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"], msg["Message-ID"] = f"Someone <{sender}>", to, subject, message_id
    msg.set_content("Dana asked for a 30 minute follow-up next Wednesday afternoon.\n\nThanks,\nAna")
    return msg


def _first_prompt(served: Any, session_id: str) -> dict[str, Any]:
    """The session's first user message: the trigger starts the turn just after the session exists."""
    return wait_until(
        lambda: next((e for e in served.events(session_id) if e["type"] == "message.user"), None),
        30,
        f"the first prompt of {session_id}",
    )


def _send(org: Org, msg: EmailMessage) -> None:
    with smtplib.SMTP("127.0.0.1", org.stack.served.smtp_in, timeout=30) as smtp:
        smtp.send_message(msg)


def test_an_email_starts_a_session_as_its_sender_that_stages_for_the_reviewers(org: Org) -> None:
    served, mailbox = org.stack.served, org.stack.mailbox
    before = {x["id"] for x in org.sessions()}
    _send(org, _mail("ana@acme.example", "Book a follow-up with Dana", "<m1@acme.example>"))
    session = org.new_session(before)
    assert session["user_id"] == org.ana and session["title"] == "email: Book a follow-up with Dana"
    first = _first_prompt(served, session["id"])
    assert "Dana asked for a 30 minute follow-up" in json.dumps(first["data"])
    entry = org.audit(session["id"])
    assert entry["actor"] == org.ana and entry["detail"]["requested_by"] == "email:ana@acme.example"

    served.waiting(session["id"])
    (output,) = served.outputs(session["id"])

    def staged_mail(to: str) -> Any:
        return [m for m in mailbox.to(to) if output["id"] in m.get_body().get_content()]  # type: ignore[attr-defined]

    # The org's reviewers are told, and so is Ana, who asked; the Slack review channel gets the buttons.
    wait_until(lambda: staged_mail(REVIEWER_EMAIL) and staged_mail("ana@acme.example"), 30, "the review mail")
    post = wait_until(
        lambda: [p for p in org.stack.slack.posts if output["id"] in json.dumps(p) and p["channel"] == CHANNEL],
        30,
        "the Slack review message",
    )[0]
    assert "approved" in org.stack.click(post, "dexa_approve", "U0REV")["text"]
    assert served.outputs(session["id"])[0]["status"] == "executed"

    # Once the turn ends, Ana gets the answer as a reply to her mail.
    _approve_bash(org, session["id"])
    reply = wait_until(
        lambda: [m for m in mailbox.to("ana@acme.example") if m["Subject"] == "Re: Book a follow-up with Dana"],
        30,
        "the answer mailed back",
    )
    assert len(reply) == 1 and "The invite waits for review." in reply[0].get_body().get_content()  # type: ignore[attr-defined]

    # The same message delivered again starts nothing new.
    _send(org, _mail("ana@acme.example", "Book a follow-up with Dana", "<m1@acme.example>"))
    assert len(org.sessions()) == len(before) + 1


def test_mail_from_an_unknown_sender_or_to_an_unknown_address_is_refused(org: Org) -> None:
    before = len(org.sessions())
    with pytest.raises(smtplib.SMTPDataError) as refused:
        _send(org, _mail("mallory@evil.example", "Wire money", "<m2@evil.example>"))
    assert refused.value.smtp_code == 550 and b"mallory@evil.example is not a known sender" in refused.value.smtp_error
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        _send(org, _mail("ana@acme.example", "Hello", "<m3@acme.example>", to="other@in.dexa.test"))
    assert len(org.sessions()) == before


def test_senders_map_only_to_users_who_may_start_sessions(org: Org) -> None:
    res = org.stack.served.http.put(
        "/triggers/email", json={"address": ADDRESS, "senders": {"rita@acme.example": org.rita}}
    )
    assert res.status_code == 403 and "may not start sessions" in res.text
    assert org.stack.served.call("GET", "/triggers/email")["senders"] == {"ana@acme.example": org.ana}


def _approve_bash(org: Org, session_id: str) -> None:
    served = org.stack.served
    served.waiting(session_id)
    (approval,) = served.call("GET", f"/sessions/{session_id}/approvals?status=pending")["data"]
    served.call("POST", f"/sessions/{session_id}/approve", {"approval_id": approval["id"], "decision": "once"})
    served.idle(session_id)


def _event(event_id: str, event: dict[str, Any]) -> bytes:
    return json.dumps({"type": "event_callback", "team_id": TEAM, "event_id": event_id, "event": event}).encode()


def _post_event(org: Org, body: bytes, **extra: str) -> Any:
    res = org.stack.served.post_raw(
        "/webhooks/slack/events", body, {**slack_headers(body), "Content-Type": "application/json", **extra}
    )
    return res


def test_a_slack_mention_starts_a_session_as_the_mapped_user_and_reviews_land_in_its_thread(org: Org) -> None:
    served, slack = org.stack.served, org.stack.slack
    challenge = json.dumps({"type": "url_verification", "challenge": "ch-123"}).encode()
    assert _post_event(org, challenge).json() == {"challenge": "ch-123"}

    ts = f"{time.time():.6f}"
    mention = {"type": "app_mention", "user": "U0ANA", "channel": "C0SALES", "ts": ts, "text": "<@U0DEXA> book Dana"}
    body = _event("Ev0001", mention)
    forged = org.stack.served.post_raw(
        "/webhooks/slack/events", body, {**slack_headers(body, secret="not-the-secret"), "Content-Type": "x"}
    )
    assert forged.status_code == 401

    started = _post_event(org, body).json()
    assert started["status"] == "started", started
    session = served.session(started["session_id"])
    assert session["user_id"] == org.ana
    assert org.audit(session["id"])["detail"]["requested_by"] == f"slack:{TEAM}/U0ANA"
    first = _first_prompt(served, session["id"])
    assert "book Dana" in json.dumps(first["data"]) and "<@U0DEXA>" not in json.dumps(first["data"])
    ack = [p for p in slack.posts if p["channel"] == "C0SALES" and p.get("thread_ts") == ts]
    assert ack and "On it" in ack[0]["text"]

    assert _post_event(org, body, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}).json()[
        "status"
    ] == ("ignored")
    assert _post_event(org, body).json()["status"] == "duplicate"

    served.waiting(session["id"])
    (output,) = served.outputs(session["id"])
    wait_until(
        lambda: (
            {(p["channel"], p.get("thread_ts")) for p in slack.posts if output["id"] in json.dumps(p)}
            == {(CHANNEL, None), ("C0SALES", ts)}
        ),
        30,
        "the review message in the review channel and in the requester's thread",
    )
    _approve_bash(org, session["id"])
    wait_until(
        lambda: [p for p in slack.posts if p.get("thread_ts") == ts and "The invite waits for review." in p["text"]],
        30,
        "the answer in the thread",
    )


def test_a_direct_message_starts_a_session_and_unmapped_users_and_bots_do_not(org: Org) -> None:
    dm = {"type": "message", "channel_type": "im", "user": "U0ANA", "channel": "D0ANA", "ts": "1.000200", "text": "hi"}
    assert _post_event(org, _event("Ev0002", dm)).json()["status"] == "started"

    stranger = {**dm, "user": "U0NOBODY", "ts": "1.000300"}
    refused = _post_event(org, _event("Ev0003", stranger)).json()
    assert refused["status"] == "rejected" and "U0NOBODY" in refused["reason"]
    assert any("linked to Dexa" in p["text"] for p in org.stack.slack.posts if p.get("thread_ts") == "1.000300")

    bot = {**dm, "bot_id": "B0DEXA", "ts": "1.000400"}
    assert _post_event(org, _event("Ev0004", bot)).json()["status"] == "ignored"
    reviewer = {**dm, "user": "U0RITA", "ts": "1.000500"}
    assert _post_event(org, _event("Ev0005", reviewer)).json()["status"] == "rejected"  # a reviewer starts nothing


def test_a_signed_webhook_fills_a_saved_template_and_runs_as_its_user(org: Org) -> None:
    served = org.stack.served
    prompt = "Follow up on ticket {{ticket.id}} ({{ ticket.subject }}) for {{customer}}."
    created = served.call("POST", "/task-templates", {"name": "ticket follow-up", "prompt": prompt, "run_as": org.ana})
    assert created["variables"] == ["customer", "ticket.id", "ticket.subject"] and created["secret"]
    assert all(t["secret"] is None for t in served.call("GET", "/task-templates")["data"])
    path, secret = created["webhook_path"], created["secret"]

    body = json.dumps({"ticket": {"id": 42, "subject": "Printer on fire"}, "customer": "Acme"}).encode()
    headers = {"X-Dexa-Signature-256": sign(secret, body), "X-Dexa-Delivery": "d-1"}
    res = served.post_raw(path, body, headers)
    assert res.status_code == 202, res.text
    session = served.session(res.json()["session_id"])
    assert session["user_id"] == org.ana
    first = _first_prompt(served, session["id"])
    assert "Follow up on ticket 42 (Printer on fire) for Acme." in json.dumps(first["data"])
    assert org.audit(session["id"])["detail"]["requested_by"].startswith(f"webhook:{created['id']}")

    assert served.post_raw(path, body, headers).json() == {"status": "duplicate"}
    assert served.post_raw(path, body, {**headers, "X-Dexa-Signature-256": sign("wrong", body)}).status_code == 401
    partial = json.dumps({"ticket": {"id": 7}}).encode()
    missing = served.post_raw(path, partial, {"X-Dexa-Signature-256": sign(secret, partial)})
    assert missing.status_code == 400 and "customer, ticket.subject" in missing.text
    assert served.post_raw("/webhooks/tasks/tpl_nope", body, headers).status_code == 404

    refused = served.http.post("/task-templates", json={"name": "x", "prompt": "y", "run_as": org.rita})
    assert refused.status_code == 403
