"""batch_get: BatchGetItem in chunks of 100 keys, asking again for what DynamoDB leaves unprocessed."""

from __future__ import annotations

from typing import Any

import pytest

from dexa.adapters.aws import dynamo_batch
from dexa.adapters.aws._ddb import Table
from dexa.adapters.aws.dynamo_batch import batch_get
from dexa.core.errors import StorageError


class PartialClient:
    """A DynamoDB client whose BatchGetItem answers at most `serve` keys per request and hands the rest back as
    UnprocessedKeys (as DynamoDB does under throttling); every request is kept."""

    def __init__(self, items: dict[str, dict[str, Any]], serve: int) -> None:
        self.items = items
        self.serve = serve
        self.requests: list[dict[str, Any]] = []

    def batch_get_item(self, *, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(RequestItems)
        ((table, asked),) = RequestItems.items()
        keys = asked["Keys"]
        assert len(keys) <= 100, "DynamoDB rejects more than 100 keys in one request"
        served, left = keys[: self.serve], keys[self.serve :]
        found = [self.items[k["PK"]["S"]] for k in served if k["PK"]["S"] in self.items]
        out: dict[str, Any] = {"Responses": {table: found}}
        if left:
            out["UnprocessedKeys"] = {table: {**asked, "Keys": left}}
        return out


def _key(i: int) -> dict[str, Any]:
    return {"PK": {"S": f"P{i}"}, "SK": {"S": "SEQ"}}


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    rounds: list[int] = []
    monkeypatch.setattr(dynamo_batch, "backoff", lambda attempt, **_: rounds.append(attempt))
    return rounds


def test_keys_go_in_chunks_of_100_and_unprocessed_ones_are_asked_again(no_sleep: list[int]) -> None:
    items = {f"P{i}": {"PK": {"S": f"P{i}"}, "last": {"N": str(i)}} for i in range(0, 250, 2)}  # half exist
    client = PartialClient(items, serve=40)
    got = batch_get(Table(client, "t"), [_key(i) for i in range(250)], projection="#pk, #last", names={"#pk": "PK"})
    assert sorted(int(i["last"]["N"]) for i in got) == list(range(0, 250, 2))
    # 100 + 100 + 50 keys, each chunk served 40 at a time: 3 + 3 + 2 requests, a backoff before each repeat.
    assert [len(next(iter(r.values()))["Keys"]) for r in client.requests] == [100, 60, 20, 100, 60, 20, 50, 10]
    assert no_sleep == [0, 1, 0, 1, 0]
    for request in client.requests:  # a repeat keeps the projection and the consistency of the first ask
        asked = request["t"]
        assert asked["ConsistentRead"] is True and asked["ProjectionExpression"] == "#pk, #last"
        assert asked["ExpressionAttributeNames"] == {"#pk": "PK"}


def test_no_keys_make_no_request() -> None:
    client = PartialClient({}, serve=100)
    assert batch_get(Table(client, "t"), []) == []
    assert client.requests == []


def test_keys_left_unprocessed_round_after_round_fail_with_a_storage_error() -> None:
    client = PartialClient({}, serve=0)
    with pytest.raises(StorageError, match="left 3 keys"):
        batch_get(Table(client, "t"), [_key(i) for i in range(3)])
    assert len(client.requests) == dynamo_batch.MAX_ROUNDS
