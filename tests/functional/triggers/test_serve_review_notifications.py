"""Reviewer notifications in `dexa serve`: a staged output and a tool call waiting for approval each reach the
reviewers as a Slack message with Approve/Reject buttons (on the local Slack fake) and as mail with signed single-use
links (through a real SMTP server with STARTTLS and AUTH). Whichever way a reviewer approves first executes it,
exactly once; the other way then answers "already decided". Only a Slack user mapped to a Dexa reviewer counts.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from trigger_kit import CHANNEL, LOCAL_USER, Stack, link_tokens


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
