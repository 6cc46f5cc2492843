"""Low-level DynamoDB plumbing for DynamoStore: typed attribute values, calls off the event loop, error mapping.

boto3 is synchronous, so every call runs in a worker thread. Vendor errors become dexa.core.errors here and
nowhere else: a lost condition is reported to the caller as data (False / retry), everything else as StorageError.
"""

from __future__ import annotations

import contextvars
import logging
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio.to_thread

from dexa.core.errors import StorageError

from . import schema

logger = logging.getLogger(__name__)

T = TypeVar("T")
Item = dict[str, dict[str, Any]]

# Codes that mean "the write lost a race": callers turn them into False, a retry or ConflictError.
CONDITION_FAILED = "ConditionalCheckFailedException"
TX_CANCELLED = "TransactionCanceledException"


# Set to 1 to log every DynamoDB call with its duration (the step Lambda's per-call breakdown).
ENV_TRACE = "DEXA_DDB_TRACE"


@dataclass(slots=True)
class CallStats:
    """DynamoDB round trips made while a piece of work ran (one engine step): count, time and per operation."""

    calls: int = 0
    ms: float = 0.0
    ops: Counter[str] = field(default_factory=Counter[str])
    polls: int = 0  # of the calls, the cancel watch's (one GetItem each): they grow with the step's duration

    def add(self, op: str, ms: float) -> None:
        self.calls += 1
        self.ms += ms
        self.ops[op] += 1


# The stats of the work in progress in this context; worker threads (Table.run) see the caller's.
_stats: contextvars.ContextVar[CallStats | None] = contextvars.ContextVar("dexa_ddb_stats", default=None)


def track() -> CallStats:
    """Start counting this context's DynamoDB calls afresh (one engine step); returns the counter. It also names
    the unit of work in progress (current_work): the step, in which only this process writes its session's history."""
    stats = CallStats()
    _stats.set(stats)
    return stats


def untrack() -> None:
    """The step is over: calls are no longer counted, and no unit of work is in progress."""
    _stats.set(None)


def current_work() -> object | None:
    """The engine step in progress in this context (its CallStats), or None outside one (the API, other tasks)."""
    return _stats.get()


def s(value: str) -> dict[str, str]:
    return {"S": value}


def n(value: float | int) -> dict[str, str]:
    return {"N": repr(value) if isinstance(value, float) else str(value)}


def num(item: Item, name: str, default: float = 0.0) -> float:
    attr = item.get(name)
    return float(attr["N"]) if attr and "N" in attr else default


def text(item: Item, name: str, default: str = "") -> str:
    attr = item.get(name)
    return str(attr["S"]) if attr and "S" in attr else default


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))  # pyright: ignore[reportUnknownMemberType]
    return ""


def cancellation_codes(exc: BaseException) -> list[str]:
    """Per-item reasons of a cancelled transaction, in request order ("None" for items that were fine)."""
    response = getattr(exc, "response", None) or {}
    reasons = response.get("CancellationReasons") or []
    return [str(r.get("Code", "None")) for r in reasons]


def cancellation_item(exc: BaseException, index: int) -> Item | None:
    """The current item a cancelled transaction reported for request `index` (ReturnValuesOnConditionCheckFailure)."""
    response = getattr(exc, "response", None) or {}
    reasons = response.get("CancellationReasons") or []
    return reasons[index].get("Item") if index < len(reasons) else None


def backoff(attempt: int, *, base: float = 0.005, cap: float = 0.2) -> None:
    """Full-jitter sleep between optimistic-concurrency retries (runs in the worker thread)."""
    time.sleep(random.uniform(0, min(cap, base * (2**attempt))))


def _where(kwargs: Mapping[str, Any]) -> str:
    """The keys a call touched, for the trace: PK/SK of an item, the values of a query, each item of a transaction."""
    if "TransactItems" in kwargs:
        return " + ".join(_where(next(iter(t.values()))) for t in kwargs["TransactItems"])
    key = kwargs.get("Key") or kwargs.get("Item")
    if key:
        return "/".join(str(key[k].get("S", "")) for k in (schema.PK, schema.SK) if k in key)
    values = kwargs.get("ExpressionAttributeValues") or {}
    return " ".join(str(v["S"]) for v in values.values() if "S" in v)


class Table:
    """One DynamoDB table reached through a low-level client. Methods here are synchronous; `run` hops threads."""

    def __init__(self, client: Any, name: str) -> None:
        self.client = client
        self.name = name

    async def run(self, fn: Callable[[], T]) -> T:
        return await anyio.to_thread.run_sync(fn)

    def call(self, op: str, **kwargs: Any) -> dict[str, Any]:
        """Call a client operation; condition failures propagate as the vendor error, the rest as StorageError."""
        started = time.monotonic()
        try:
            return getattr(self.client, op)(**kwargs)
        except Exception as exc:
            code = error_code(exc)
            if code in (CONDITION_FAILED, TX_CANCELLED):
                raise
            if code == "ResourceNotFoundException":
                raise StorageError(
                    f"DynamoDB table {self.name!r} not found (set {schema.ENV_TABLE} or deploy the data stack)"
                ) from exc
            if code:
                raise StorageError(f"DynamoDB {op} on {self.name!r} failed: {code}: {exc}") from exc
            raise StorageError(f"DynamoDB {op} on {self.name!r} failed: {type(exc).__name__}: {exc}") from exc
        finally:
            self._count(op, (time.monotonic() - started) * 1000, kwargs)

    @staticmethod
    def _count(op: str, ms: float, kwargs: Mapping[str, Any]) -> None:
        stats = _stats.get()
        if stats is not None:
            stats.add(op, ms)
        if os.environ.get(ENV_TRACE) == "1":
            logger.info("ddb %s %s %.1f ms", op, _where(kwargs), ms)

    def get(self, pk: str, sk: str) -> Item | None:
        out = self.call("get_item", TableName=self.name, Key={schema.PK: s(pk), schema.SK: s(sk)}, ConsistentRead=True)
        return out.get("Item")

    def put_new(self, item: Item) -> bool:
        """Put only when the key is free; False when it already exists."""
        try:
            self.call("put_item", TableName=self.name, Item=item, ConditionExpression="attribute_not_exists(PK)")
        except Exception as exc:
            if error_code(exc) == CONDITION_FAILED:
                return False
            raise
        return True

    def update_if(
        self, key: Item, update: str, condition: str, values: Mapping[str, Any], names: Mapping[str, str] | None = None
    ) -> bool:
        """Conditional UpdateItem; False when the condition does not hold (including a missing item)."""
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "Key": key,
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": dict(values),
        }
        if names:
            kwargs["ExpressionAttributeNames"] = dict(names)
        try:
            self.call("update_item", **kwargs)
        except Exception as exc:
            if error_code(exc) == CONDITION_FAILED:
                return False
            raise
        return True

    def query(self, *, limit: int | None = None, **kwargs: Any) -> Iterator[Item]:
        """Every item of a bounded key-range query (following pages), up to `limit` items after filtering."""
        kwargs.setdefault("TableName", self.name)
        seen = 0
        while True:
            if limit is not None:
                kwargs["Limit"] = max(1, limit - seen)
            out = self.call("query", **kwargs)
            for item in out.get("Items", []):
                yield item
                seen += 1
                if limit is not None and seen >= limit:
                    return
            last = out.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last

    def query_partition(
        self,
        pk: str,
        begins: str,
        *,
        limit: int | None = None,
        descending: bool = False,
        consistent: bool = True,
        **extra: Any,
    ) -> Iterator[Item]:
        return self.query(
            limit=limit,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
            ExpressionAttributeValues={":pk": s(pk), ":prefix": s(begins), **extra.pop("values", {})},
            ScanIndexForward=not descending,
            ConsistentRead=consistent,
            **extra,
        )


def create_table(client: Any, name: str = schema.DEFAULT_TABLE_NAME) -> None:
    """Create the single table as the data stack does (for moto, MiniStack and local development)."""
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": a, "AttributeType": "S"} for a in (schema.PK, schema.SK, schema.GSI1PK, schema.GSI1SK)
        ],
        KeySchema=[{"AttributeName": schema.PK, "KeyType": "HASH"}, {"AttributeName": schema.SK, "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": schema.GSI1,
                "KeySchema": [
                    {"AttributeName": schema.GSI1PK, "KeyType": "HASH"},
                    {"AttributeName": schema.GSI1SK, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": schema.STREAM_VIEW},
    )
    client.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": schema.TTL_ATTRIBUTE}
    )
