"""GET /sessions on DynamoDB reads what it shows beside each session (its last event seq, its checkpoints' bytes) for
the whole page at once: the event counters in one BatchGetItem, not one GetItem per listed session."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from api_harness import Api, make_api
from fastapi.testclient import TestClient

from dexa.core.session import Session


@pytest.fixture
def ddb() -> Iterator[Any]:
    import boto3.session
    import moto  # noqa: F401  # registers moto's botocore hook; a client built before it would reach AWS
    from moto import mock_aws

    from dexa.adapters.aws.moto_harness import serialized_dynamodb

    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    with mock_aws(), serialized_dynamodb():
        yield session.client("dynamodb")


@contextmanager
def counting(client: Any) -> Iterator[Counter[str]]:
    """DynamoDB operations the client sends inside the block, by name."""
    ops: Counter[str] = Counter()

    def seen(model: Any, **_: Any) -> None:
        ops[model.name] += 1

    client.meta.events.register("before-call.dynamodb", seen)
    try:
        yield ops
    finally:
        client.meta.events.unregister("before-call.dynamodb", seen)


def _add_sessions(api: Api, start: int, stop: int) -> None:
    store = api.runtime.store

    async def add() -> None:
        now = time.time()
        for i in range(start, stop):
            sid = f"ses_{i:03d}"
            await store.create_session(
                Session(id=sid, org_id="org_a", user_id="u", cwd="/w", model="m", created_at=now, updated_at=now + i)
            )
            for _ in range(i % 3):
                await store.append_event(sid, "t", {})
            for seq in range(1, 1 + i % 2):
                await store.kv_put("checkpoints", f"{sid}:{seq:06d}", {"bytes_added": 100 * i + seq})

    asyncio.run(add())


def test_listing_more_sessions_costs_no_more_point_reads(tmp_path: Path, ddb: Any) -> None:
    from dexa.adapters.aws import DynamoStore

    store = DynamoStore("t-list", client=ddb)
    store.create_table()
    api = make_api(tmp_path, store=store)
    with TestClient(api.app) as client:

        def listing() -> tuple[Counter[str], list[dict[str, Any]]]:
            with counting(ddb) as ops:
                r = client.get("/sessions", params={"limit": 100}, headers=api.h())
            assert r.status_code == 200, r.text
            return ops, r.json()["data"]

        _add_sessions(api, 0, 3)
        client.get("/sessions", headers=api.h())  # warm-up: what is counted below is a steady-state request
        few, listed = listing()
        _add_sessions(api, 3, 30)
        many, listed = listing()

        assert len(listed) == 30
        # The page's event counters are one BatchGetItem whatever its size; the checkpoints' bytes of each session
        # are a key range in a partition every session shares (not point-gettable): one Query each, side by side.
        assert many - Counter(Query=27) == few, (few, many)
        assert many["GetItem"] == few["GetItem"] and many["BatchGetItem"] == 1

        # Each listed session shows its own figures, as reading it alone does.
        shown = {row["id"]: (row["last_seq"], row["checkpoint_bytes"]) for row in listed}
        assert shown == {f"ses_{i:03d}": (i % 3, 100 * i + 1 if i % 2 else 0) for i in range(30)}
        for sid in [f"ses_{i:03d}" for i in range(6)]:
            alone = client.get(f"/sessions/{sid}", headers=api.h()).json()
            assert shown[sid] == (alone["last_seq"], alone["checkpoint_bytes"])
