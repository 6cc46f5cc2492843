"""Who hears about a triggered session's waiting work: the org's review channels and, where they asked, the person
who asked (their Slack thread or inbox), each once, even when a retried step emits its event again."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from notify_recorders import Mailer, Slack

from dexa.adapters.sqlite import SqliteStore
from dexa.auth.org_links import ReviewChannels, set_review_channels
from dexa.core.events import Event, EventType
from dexa.core.session import Session, SessionConfig
from dexa.integrations.outputs.links import ApprovalLinks
from dexa.integrations.review_notify import ReviewNotifier

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    db = SqliteStore(tmp_path / "dexa.db")
    yield db
    db.close()


async def _session(store: SqliteStore, sid: str, reply_to: Mapping[str, str]) -> None:
    extra = {"requested_by": "test", "reply_to": dict(reply_to)}
    await store.create_session(
        Session(id=sid, org_id="org_a", user_id="usr_a", cwd="/tmp", model="m", config=SessionConfig(extra=extra))
    )


def _staged(sid: str, output_id: str, seq: int = 5, **data: Any) -> Event:
    return Event(session_id=sid, seq=seq, type=EventType.OUTPUT_STAGED, data={"id": output_id, "kind": "email", **data})


async def test_the_requester_is_told_even_when_the_org_has_no_review_channels(store: SqliteStore) -> None:
    slack, mailer = Slack(), Mailer()
    links = ApprovalLinks(b"k" * 32, base_url="https://dexa.test", kv=store)
    notify = ReviewNotifier(store, slack=slack, mailer=mailer, links=lambda: links)
    await _session(store, "ses_slack", {"slack_channel": "C0ASK", "slack_thread": "17.01"})
    await _session(store, "ses_mail", {"email": "ana@acme.example"})
    await notify(_staged("ses_slack", "out_1"))
    await notify(_staged("ses_slack", "out_1", seq=6))  # a retried step's duplicate
    await notify(_staged("ses_mail", "out_2"))
    await notify(_staged("ses_mail", "out_3", auto=True))  # policy applied it: nobody to ask
    assert [(p["channel"], p.get("thread_ts")) for p in slack.posts] == [("C0ASK", "17.01")]
    assert [to for to, _subject, _text in mailer.sent] == [["ana@acme.example"]]


async def test_the_requester_is_added_to_the_org_reviewers_once(store: SqliteStore) -> None:
    slack, mailer = Slack(), Mailer()
    links = ApprovalLinks(b"k" * 32, base_url="https://dexa.test", kv=store)
    notify = ReviewNotifier(store, slack=slack, mailer=mailer, links=lambda: links)
    channels = ReviewChannels(slack_team="T0A", slack_channel="C0REV", emails=("Ana@acme.example", "rev@acme.example"))
    await set_review_channels(store, "org_a", channels)
    await _session(store, "ses_1", {"email": "ana@acme.example", "slack_channel": "C0REV"})
    tool = Event(
        session_id="ses_1",
        seq=7,
        type=EventType.PERMISSION_REQUIRED,
        data={"approval_id": "ap_1", "tool_name": "Bash", "input": {"command": "ls"}},
    )
    await notify(tool)
    assert [p["channel"] for p in slack.posts] == ["C0REV"] and "thread_ts" not in slack.posts[0]
    (mail,) = mailer.sent
    assert mail[0] == ["Ana@acme.example", "rev@acme.example"] and "Bash" in mail[1]
