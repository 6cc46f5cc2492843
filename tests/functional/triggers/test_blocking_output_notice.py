"""A blocking output is announced once: the gate stages it (output.staged) and the turn parks on it as an approval
(permission.required carrying its output_id); reviewers get one Slack post and one mail, not two of each."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from notify_recorders import Mailer, Slack

from dexa.adapters.sqlite import SqliteStore
from dexa.auth.org_links import ReviewChannels, set_review_channels
from dexa.core.events import Event, EventType
from dexa.core.session import Session
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


async def test_a_blocking_output_is_posted_and_mailed_once(store: SqliteStore) -> None:
    slack, mailer = Slack(), Mailer()
    links = ApprovalLinks(b"k" * 32, base_url="https://dexa.test", kv=store)
    notify = ReviewNotifier(store, slack=slack, mailer=mailer, links=lambda: links)
    await set_review_channels(
        store, "org_a", ReviewChannels(slack_team="T0A", slack_channel="C0REV", emails=("rev@acme.example",))
    )
    await store.create_session(Session(id="ses_1", org_id="org_a", user_id="usr_a", cwd="/tmp", model="m"))
    staged = {"id": "out_1", "kind": "email", "preview": "To: bob@x\nHi", "mode": "blocking", "auto": False}
    await notify(Event(session_id="ses_1", seq=4, type=EventType.OUTPUT_STAGED, data=staged))
    parked = {
        "approval_id": "ap_tu1",
        "tool_use_id": "tu1",
        "tool_name": "mcp__gmail__send",
        "input": {"to": "bob@x"},
        "kind": "output",
        "output_id": "out_1",
        "output": {"output_id": "out_1"},
    }
    await notify(Event(session_id="ses_1", seq=5, type=EventType.PERMISSION_REQUIRED, data=parked))
    assert [p["channel"] for p in slack.posts] == ["C0REV"]
    [(to, subject, text)] = mailer.sent
    assert to == ["rev@acme.example"] and "staged" in subject and "out_1" in text
    # A tool call's own approval (no output) is still announced.
    tool = {"approval_id": "ap_tu2", "tool_name": "Bash", "input": {"command": "ls"}, "kind": "tool"}
    await notify(Event(session_id="ses_1", seq=6, type=EventType.PERMISSION_REQUIRED, data=tool))
    assert len(slack.posts) == 2 and len(mailer.sent) == 2
