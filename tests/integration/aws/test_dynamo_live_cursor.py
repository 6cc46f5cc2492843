"""Where a stream's live deltas start (DynamoStore.live_cursor): in the writers' key space, not the reader's clock.

A live delta is keyed by its writer's clock (the step container that streams the model), while the stream that reads
it runs in another container. A cursor taken from the reader's clock loses the first deltas of a writer whose clock
is behind it: they sort before the cursor. The writer's clock is skewed here by standing in for the `time` module the
store reads it from, only while the writer writes.
"""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

import pytest

from dexa.adapters.aws import DynamoStore, dynamo_log

SID = "ses_livecursor"
BEHIND_NS = 2_000_000_000  # the writer's clock runs 2 s behind the reader's


@pytest.fixture
def stores(aws: None, clients: dict[str, Any]) -> tuple[DynamoStore, DynamoStore]:
    reader = DynamoStore("t-live-cursor", client=clients["dynamodb"], live_deltas=True)
    reader.create_table()
    return reader, DynamoStore("t-live-cursor", client=clients["dynamodb"], live_deltas=True)


def delta(writer: DynamoStore, message_id: str, text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    skewed = SimpleNamespace(time_ns=lambda: time.time_ns() - BEHIND_NS)
    with monkeypatch.context() as patch:
        patch.setattr(dynamo_log, "time", skewed)
        asyncio.run(writer.append_event(SID, "message.delta", {"message_id": message_id, "text": text}))


def texts(reader: DynamoStore, cursor: str) -> list[str]:
    return [str(e.data["text"]) for _, e in asyncio.run(reader.read_live(SID, after=cursor))]


def test_a_stream_opened_just_before_a_lagging_writer_streams_gets_all_its_deltas(
    stores: tuple[DynamoStore, DynamoStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    reader, writer = stores
    delta(writer, "m0", "before.", monkeypatch)  # an earlier message's delta: the client has its final form
    cursor = asyncio.run(reader.live_cursor(SID))  # a client connects...
    delta(writer, "m1", "one.", monkeypatch)  # ...and the writer, 2 s behind, streams the next message
    delta(writer, "m1", "two.", monkeypatch)
    assert texts(reader, cursor) == ["one.", "two."]  # nothing lost, nothing written before it replayed


def test_a_session_without_deltas_yet_starts_before_the_first(
    stores: tuple[DynamoStore, DynamoStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    reader, writer = stores
    cursor = asyncio.run(reader.live_cursor(SID))
    delta(writer, "m1", "first.", monkeypatch)
    assert texts(reader, cursor) == ["first."]
    # The cursor moves on as the stream reads (the key of the last delta it read): the next read gets the rest.
    ((key, _),) = asyncio.run(reader.read_live(SID, after=cursor))
    delta(writer, "m1", "second.", monkeypatch)
    assert texts(reader, key) == ["second."]
