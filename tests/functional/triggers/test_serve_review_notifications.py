"""Reviewer notifications in `dexa serve`: a staged output and a tool call waiting for approval each reach the
reviewers as a Slack message with Approve/Reject buttons (on the local Slack fake) and as mail with signed single-use
links (through a real SMTP server with STARTTLS and AUTH). Whichever way a reviewer approves first executes it,
exactly once; the other way then answers "already decided". Only a Slack user mapped to a Dexa reviewer counts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from trigger_kit import LOCAL_USER, SIGNING_SECRET, FakeSlack, Mailbox, Served, click, link_tokens, wait_until

TEAM, CHANNEL, REVIEWER_EMAIL = "T0ACME", "C0REVIEW", "rev@acme.example"


class Stack:
    def __init__(self, tmp: Path) -> None:
        self.mailbox = Mailbox(tmp)
        self.slack = FakeSlack()
        env = {
            **self.mailbox.env(),
            "DEXA_SLACK_BOT_TOKEN": "xoxb-test-token",
            "DEXA_SLACK_API_URL": self.slack.url + "/api",
            "DEXA_SLACK_SIGNING_SECRET": SIGNING_SECRET,
        }
        self.served = Served(tmp, env=env)
        s = self.served
        s.call("PUT", "/review-channels", {"slack_team": TEAM, "slack_channel": CHANNEL, "emails": [REVIEWER_EMAIL]})
        s.call("PUT", "/slack-users", {"slack_user": "U0REV", "user_id": LOCAL_USER})

    def start(self, name: str) -> str:
        cwd = self.served.ws / name
        cwd.mkdir()
        sid = self.served.call("POST", "/sessions", {"prompt": "Schedule the Acme follow-up.", "cwd": str(cwd)})["id"]
        self.served.waiting(sid)
        return sid

    def notices(self, session_id: str) -> tuple[dict[str, Any], dict[str, Any], Message, Message]:
        """(Slack output message, Slack tool message, output mail, tool mail) of the session."""
        (output,) = self.served.outputs(session_id)

        def slack_for(key: str, value: str) -> list[dict[str, Any]]:
            return [
                p
                for p in self.slack.posts
                if any(json.loads(b["value"]).get(key) == value for b in self.slack.buttons(p).values())
            ]

        def mail(subject: str, text: str) -> list[Message]:
            return [
                m
                for m in self.mailbox.to(REVIEWER_EMAIL)
                if subject in str(m["Subject"]) and text in m.get_body().get_content()  # type: ignore[attr-defined]
            ]

        def found() -> Any:
            got = (
                slack_for("output_id", output["id"]),
                slack_for("session_id", session_id),
                mail("staged", output["id"]),
                mail("needs approval", session_id),
            )
            return all(len(g) == 1 for g in got) and tuple(g[0] for g in got)

        return wait_until(found, 30, f"the notices of {session_id}: {self.slack.posts} {self.mailbox.messages}")

    def click(self, post: dict[str, Any], action: str, user: str) -> dict[str, Any]:
        body, headers = click(
            self.slack.buttons(post)[action], user=user, team=TEAM, response_url=self.slack.url + "/respond/1"
        )
        res = self.served.post_raw("/webhooks/slack", body, headers)
        assert res.status_code == 200, res.text
        return res.json()

    def redeem(self, token: str) -> Any:
        return self.served.http.post("/approval-links/redeem", json={"token": token})

    def executed(self, session_id: str) -> int:
        return sum(1 for e in self.served.events(session_id) if e["type"] == "output.executed")

    def close(self) -> None:
        self.served.stop()
        self.slack.close()
        self.mailbox.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(tmp_path_factory.mktemp("notify"))
    yield s
    s.close()


def test_reviewers_get_slack_buttons_and_signed_links_for_a_staged_output_and_a_waiting_tool(stack: Stack) -> None:
    sid = stack.start("notices")
    out_post, tool_post, out_mail, tool_mail = stack.notices(sid)
    assert out_post["channel"] == tool_post["channel"] == CHANNEL
    assert set(stack.slack.tokens) == {"Bearer xoxb-test-token"}
    assert set(stack.slack.buttons(out_post)) == {"dexa_approve", "dexa_reject"}
    assert "Acme follow-up" in out_post["blocks"][0]["text"]["text"]
    assert "Bash" in tool_post["text"]
    assert out_mail["From"] == "dexa@dexa.test" and "for review" in str(out_mail["Subject"])
    assert "Bash" in str(tool_mail["Subject"])
    assert set(link_tokens(out_mail)) == set(link_tokens(tool_mail)) == {"Approve", "Reject"}
    assert stack.mailbox.logins  # Dexa signed in to the SMTP server


def test_approved_in_slack_it_executes_once_and_the_mailed_link_is_then_refused(stack: Stack) -> None:
    sid = stack.start("slack-first")
    out_post, tool_post, out_mail, tool_mail = stack.notices(sid)
    (output,) = stack.served.outputs(sid)

    stranger = stack.click(out_post, "dexa_approve", "U0STRANGER")
    assert "not a Dexa reviewer" in stranger["text"]
    assert stack.served.outputs(sid)[0]["status"] == "pending"

    approved = stack.click(out_post, "dexa_approve", "U0REV")
    assert f"Output {output['id']} approved" in approved["text"]
    assert stack.served.outputs(sid)[0]["status"] == "executed"
    assert "Already decided" in stack.click(out_post, "dexa_approve", "U0REV")["text"]
    assert stack.redeem(link_tokens(out_mail)["Approve"]).status_code == 409
    assert stack.executed(sid) == 1

    # The waiting Bash call: an approval from Slack drives the parked turn on, and the command runs once.
    assert "not a Dexa reviewer" in stack.click(tool_post, "dexa_approve", "U0STRANGER")["text"]
    assert "allowed" in stack.click(tool_post, "dexa_approve", "U0REV")["text"]
    stack.served.idle(sid)
    assert (stack.served.ws / "slack-first" / "approved.txt").read_text() == "ran\n"
    assert stack.redeem(link_tokens(tool_mail)["Approve"]).status_code == 409
    assert any(r.get("replace_original") for r in stack.slack.responses)  # the clicked message was updated


def test_approved_by_the_mailed_link_it_executes_once_and_slack_is_then_refused(stack: Stack) -> None:
    sid = stack.start("mail-first")
    out_post, tool_post, out_mail, tool_mail = stack.notices(sid)

    token = link_tokens(out_mail)["Approve"]
    res = stack.redeem(token)
    assert res.status_code == 200, res.text
    assert res.json()["output"]["status"] == "executed" and res.json()["output"]["decided_by"] == LOCAL_USER
    assert stack.redeem(token).status_code == 409  # single use
    assert "Already decided" in stack.click(out_post, "dexa_approve", "U0REV")["text"]
    assert stack.executed(sid) == 1

    res = stack.redeem(link_tokens(tool_mail)["Approve"])
    assert res.status_code == 200, res.text
    stack.served.idle(sid)
    assert (stack.served.ws / "mail-first" / "approved.txt").read_text() == "ran\n"
    assert "Already decided" in stack.click(tool_post, "dexa_approve", "U0REV")["text"]


def test_a_link_needs_a_signed_in_reviewer(stack: Stack) -> None:
    sid = stack.start("anonymous")
    _out_post, _tool_post, out_mail, _tool_mail = stack.notices(sid)
    import httpx

    res = httpx.post(stack.served.url + "/approval-links/redeem", json={"token": link_tokens(out_mail)["Approve"]})
    assert res.status_code == 401
    assert stack.served.outputs(sid)[0]["status"] == "pending"
