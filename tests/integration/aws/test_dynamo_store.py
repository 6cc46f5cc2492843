"""DynamoStore specifics the shared contract can not see: TTL filtering, bounded queries, the table's stream."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from dexa.adapters.aws import DynamoStore, schema
from dexa.core.errors import StorageError
from dexa.core.session import Session


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class SpyClient:
    """Records every DynamoDB operation the store makes."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.ops: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr) or name.startswith("_"):
            return attr

        def call(**kwargs: Any) -> Any:
            self.ops.append((name, kwargs))
            return attr(**kwargs)

        return call


@pytest.fixture
def ddb(aws: None, clients: dict[str, Any]) -> Any:
    return clients["dynamodb"]


def test_table_is_created_with_ttl_and_a_new_image_stream(ddb: Any) -> None:
    DynamoStore("t-shape", client=ddb).create_table()
    ttl = ddb.describe_time_to_live(TableName="t-shape")["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": schema.TTL_ATTRIBUTE}
    table = ddb.describe_table(TableName="t-shape")["Table"]
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == [schema.GSI1]


def test_expired_events_and_kv_documents_are_hidden_until_dynamodb_deletes_them(ddb: Any) -> None:
    clock = Clock()
    store = DynamoStore("t-ttl", client=ddb, clock=clock, event_ttl_s=60, kv_ttl_s={"checkpoints": 30})
    store.create_table()

    async def main() -> None:
        await store.append_event("s1", "old", {})
        await store.kv_put("checkpoints", "c1", {"v": 1})
        clock.now += 45
        await store.append_event("s1", "newer", {})
        assert await store.kv_get("checkpoints", "c1") is None  # 30 s TTL passed; moto never deletes it
        assert await store.kv_list("checkpoints") == []
        assert await store.kv_put_if_absent("checkpoints", "c1", {"v": 2})  # an expired key counts as absent
        clock.now += 30
        assert [e.type for e in await store.read_events("s1")] == ["newer"]
        clock.now += 100
        assert await store.read_events("s1") == []
        # The counter never expires, so numbering continues instead of restarting at 1.
        assert (await store.append_event("s1", "later", {})).seq == 3

    asyncio.run(main())
    raw = ddb.get_item(TableName="t-ttl", Key={"PK": {"S": "SESSION#s1"}, "SK": {"S": "EVT#000000000001"}})
    assert int(raw["Item"][schema.TTL_ATTRIBUTE]["N"]) == 1_800_000_060


def test_every_read_is_a_bounded_key_query_and_nothing_scans(ddb: Any, tmp_path: Path) -> None:
    spy = SpyClient(ddb)
    store = DynamoStore("t-spy", client=spy)
    store.create_table()

    async def main() -> None:
        now = time.time()
        await store.create_session(
            Session(id="s1", org_id="o", user_id="u", cwd="/w", model="m", created_at=now, updated_at=now)
        )
        await store.list_sessions(org_id="o", cwd="/w")
        await store.append_event("s1", "x", {})
        await store.read_events("s1", after=0)
        await store.last_seq("s1")
        await store.list_messages("s1", include_hidden=True)
        await store.hide_messages_after("s1", None)
        await store.list_tool_records("s1", turn=1)
        await store.list_approvals("s1", status="pending")
        await store.kv_list("ns", prefix="p")
        await store.kv_list_many("ns", ["p", "q"])
        await store.last_seqs(["s1", "s2"])

    asyncio.run(main())
    names = {op for op, _ in spy.ops}
    assert "scan" not in names and "query" in names and "batch_get_item" in names
    for op, kwargs in spy.ops:
        if op == "query":
            condition = kwargs["KeyConditionExpression"]
            assert condition.startswith(("PK = :pk", "GSI1PK = :pk")), condition
            if "SK" in condition:
                assert "begins_with" in condition or "BETWEEN" in condition, condition
    transactions = [kw for op, kw in spy.ops if op == "transact_write_items"]
    assert len(transactions) == 1 and [next(iter(i)) for i in transactions[0]["TransactItems"]] == ["Update", "Put"]


def test_event_inserts_reach_the_table_stream_with_their_new_image(
    ddb: Any, clients: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    monkeypatch.setenv("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")  # botocore 1.44 + moto 5.2.5 (aws-modal.md §3)
    store = DynamoStore("t-stream", client=ddb)
    store.create_table()
    asyncio.run(store.append_event("s1", "turn.started", {"turn": 1}))
    arn = ddb.describe_table(TableName="t-stream")["Table"]["LatestStreamArn"]
    streams = boto3.client("dynamodbstreams", region_name="us-east-1")
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    images = [r["dynamodb"]["NewImage"] for r in records if r["eventName"] == "INSERT"]
    assert any(i["SK"]["S"] == "EVT#000000000001" and i["type"]["S"] == "turn.started" for i in images)


def test_bad_keys_and_a_missing_table_fail_with_clear_storage_errors(ddb: Any) -> None:
    store = DynamoStore("t-keys", client=ddb)
    store.create_table()
    with pytest.raises(StorageError, match="reserved as the key separator"):
        asyncio.run(store.kv_put("bad#ns", "k", {}))
    with pytest.raises(StorageError, match=schema.ENV_TABLE):
        asyncio.run(DynamoStore("no-such-table", client=ddb).last_seq("s1"))


def test_an_approval_over_the_item_limit_is_stored_decided_and_listed_through_the_blob_store(
    ddb: Any, clients: dict[str, Any]
) -> None:
    from dataclasses import replace

    from dexa.adapters.aws import S3BlobStore
    from dexa.core.session import Approval

    clients["s3"].create_bucket(Bucket="approval-blobs")
    store = DynamoStore("t-big-approval", client=ddb, overflow=S3BlobStore("approval-blobs", client=clients["s3"]))
    store.create_table()
    content = "x" * 500_000  # a Write of a 500 KB file asks first: DynamoDB items stop at 400 KB
    approval = Approval(
        id="ap1",
        session_id="s1",
        tool_use_id="t1",
        tool_name="Write",
        input={"file_path": "/w/big.txt", "content": content},
        created_at=1.0,
    )

    async def main() -> None:
        await store.put_approval(approval)
        assert await store.attach_task_token("s1", "ap1", "tok")
        got = await store.get_approval("s1", "ap1")
        assert got is not None and got.input["content"] == content and got.task_token == "tok"
        assert await store.resolve_approval(replace(approval, status="allowed", decided_by="alice"))
        assert not await store.resolve_approval(replace(approval, status="denied"))  # decided once
        (listed,) = await store.list_approvals("s1", status="allowed")
        assert listed.input["content"] == content and listed.decided_by == "alice" and listed.task_token == "tok"

    asyncio.run(main())
