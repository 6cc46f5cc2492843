"""Point reads of many items in few requests (BatchGetItem), for DynamoStore's reads of a listing page.

BatchGetItem takes at most 100 keys per request and may answer only part of them without any error (throttling,
its 16 MB response cap): what it did not read comes back as UnprocessedKeys, which are asked again after a backoff
until every key is answered or MAX_ROUNDS requests were spent on one chunk.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dexa.core.errors import StorageError

from ._ddb import Item, Table, backoff

BATCH_GET_MAX = 100
MAX_ROUNDS = 8


def batch_get(
    t: Table, keys: Sequence[Item], *, projection: str | None = None, names: Mapping[str, str] | None = None
) -> list[Item]:
    """The items stored under `keys` (strongly consistent; missing ones are simply absent), in no particular order.
    Keys must be distinct: DynamoDB rejects a batch that repeats one."""
    found: list[Item] = []
    for start in range(0, len(keys), BATCH_GET_MAX):
        request: dict[str, Any] = {"Keys": list(keys[start : start + BATCH_GET_MAX]), "ConsistentRead": True}
        if projection:
            request["ProjectionExpression"] = projection
        if names:
            request["ExpressionAttributeNames"] = dict(names)
        pending: dict[str, Any] = {t.name: request}
        for attempt in range(MAX_ROUNDS):
            out = t.call("batch_get_item", RequestItems=pending)
            found.extend(out.get("Responses", {}).get(t.name, []))
            # Returned with the request's projection and consistency: ask again exactly as DynamoDB hands it back.
            pending = out.get("UnprocessedKeys") or {}
            if not pending:
                break
            backoff(attempt, base=0.025, cap=1.0)
        else:
            left = len(pending.get(t.name, {}).get("Keys", []))
            raise StorageError(
                f"DynamoDB left {left} keys of a batch read on {t.name!r} unprocessed {MAX_ROUNDS} times"
            )
    return found
