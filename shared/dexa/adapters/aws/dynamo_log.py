"""The append-only parts of DynamoStore: the event log (gapless seq) and the message list (idempotent by id).

Event seq: a per-session counter item and the event item change in ONE transaction
    [Update SEQ: last = n IF last = n-1 ; Put EVT#n IF attribute_not_exists]
so a seq is never skipped (the counter moves only with an event) nor shared (the put is conditional). A loser
re-reads the counter and retries with jittered backoff. The counter never expires, so TTL on old events can not
make numbers restart.

Messages: [Put MSGID#{id} IF absent ; Put MSG#{pos} IF absent] in one transaction: the first guard makes
put_message idempotent by id, the second keeps insertion order without a counter (messages never expire).
A process keeps the messages it read per session (a warm step container re-reads the history every step): a list
reads only the positions after the last one it has, in one query whose range also holds the hide marker
(MSG#~hides, a count every hide bumps after hiding), so a hide made by any process since is seen and the cache is
read afresh. A put guesses the next position from the cache instead of querying it. Within one engine step
(_ddb.current_work) the history is checked once: during a step only that step writes its session's messages (one
step runs at a time per turn; a rewind waits for the turn), so a second list in the same step needs no request.

Live deltas (opt-in, `live_types`): a streamed model delta is one plain PutItem of LIVE#{time_ns}#{nonce} with a
one-hour TTL, not a log event (a two-item transaction, 4 write units, kept 90 days): the final message is what the
log keeps. Connected streams read LIVE# items after their own cursor (read_live) between their log reads; a client
that connects or resumes later gets the final message only. A stream's first cursor is the session's newest LIVE#
key, not the reader's clock: keys carry their writer's clock (a step container's), and one behind the reader's by
X ms would have the deltas it writes in the X ms after a client connects sort before a clock cursor, and be lost.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dexa.core.errors import ConflictError, NotFoundError, StorageError
from dexa.core.events import Event
from dexa.core.messages import Message, message_from_dict, message_to_dict
from dexa.core.ports import BlobStore

from . import schema
from ._ddb import (
    TX_CANCELLED,
    Item,
    Table,
    backoff,
    cancellation_codes,
    cancellation_item,
    current_work,
    error_code,
    n,
    num,
    s,
    text,
)

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 200
_SEQ_SK = "SEQ"
_LIVE = "LIVE#"
_LIVE_END = "LIVE#~"
# The cursor of a session no delta was written to yet: read_live's range starts right after it, before any key.
_LIVE_START = f"{_LIVE}{0:020d}"
LIVE_TTL_S = 3600
_EVT_END = "EVT#999999999999"
_MSG_END = "MSG#99999999"
# Sorts after every message position and inside the range an incremental list reads ("~" > digits).
_MSG_MARK = "MSG#~hides"
_MSG_HI = "MSG#~~"
# Sessions whose messages a process keeps (least recently used ones are dropped).
MESSAGE_CACHE_SESSIONS = 64


@dataclass(slots=True)
class CachedMessages:
    """One session's messages as this process last read or wrote them: (position, hidden, message) in order."""

    entries: list[tuple[int, bool, Message]] = field(default_factory=list[tuple[int, bool, Message]])
    hides: int = 0
    checked_in: object | None = None  # the engine step (_ddb.current_work) in which it was last read or written

    @property
    def last(self) -> int:
        return self.entries[-1][0] if self.entries else 0


class Payloads:
    """JSON bodies inline in the item, or in the blob store when they would crowd the 400 KB item limit."""

    def __init__(self, overflow: BlobStore | None, limit: int = schema.INLINE_LIMIT_BYTES) -> None:
        self.overflow = overflow
        self.limit = limit

    async def pack(self, body: str) -> Item:
        raw = body.encode()
        if len(raw) <= self.limit or self.overflow is None:
            return {"data": s(body)}
        return {"blob": s(await self.overflow.put_blob(raw))}

    async def unpack(self, item: Item) -> str:
        if "data" in item:
            return text(item, "data")
        digest = text(item, "blob")
        if not digest or self.overflow is None:
            raise StorageError(f"item {text(item, 'PK')}/{text(item, 'SK')} has no payload")
        return (await self.overflow.get_blob(digest)).decode()


class LogMixin:
    _t: Table
    _payloads: Payloads
    _clock: Callable[[], float]
    _event_ttl_s: float | None
    _seq_hint: dict[str, int]
    _append_locks: list[threading.Lock]
    _live_types: frozenset[str]
    _messages: OrderedDict[str, CachedMessages]
    _messages_lock: threading.Lock

    def _live(self) -> tuple[str, dict[str, Any]]:
        """A filter that hides items whose TTL passed but which DynamoDB has not deleted yet."""
        return (
            f"attribute_not_exists({schema.TTL_ATTRIBUTE}) OR {schema.TTL_ATTRIBUTE} > :now",
            {":now": n(int(self._clock()))},
        )

    # ------------------------------------------------------------ events

    def _counter(self, pk: str) -> int:
        item = self._t.get(pk, _SEQ_SK)
        return int(num(item, "last")) if item else 0

    def _append(self, session_id: str, event_item: Item) -> int:
        # Appenders in this process take turns, so conditions only ever race other processes (other Lambdas).
        with self._append_locks[hash(session_id) % len(self._append_locks)]:
            return self._append_locked(session_id, event_item)

    def _append_locked(self, session_id: str, event_item: Item) -> int:
        pk = schema.session_pk(session_id)
        last = self._seq_hint.get(session_id)
        for attempt in range(MAX_ATTEMPTS):
            if last is None:
                last = self._counter(pk)
            seq = last + 1
            counter: dict[str, Any] = {
                "TableName": self._t.name,
                "Key": {schema.PK: s(pk), schema.SK: s(_SEQ_SK)},
                "UpdateExpression": "SET #last = :n",
                "ExpressionAttributeNames": {"#last": "last"},
                "ExpressionAttributeValues": {":n": n(seq)},
                # A loser learns the winner's counter from the cancellation reason: no extra read to retry.
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
            if last == 0:
                counter["ConditionExpression"] = "attribute_not_exists(#last)"
            else:
                counter["ConditionExpression"] = "#last = :e"
                counter["ExpressionAttributeValues"][":e"] = n(last)
            put = {
                "TableName": self._t.name,
                "Item": {schema.PK: s(pk), schema.SK: s(schema.event_sk(seq)), "seq": n(seq), **event_item},
                "ConditionExpression": "attribute_not_exists(SK)",
            }
            try:
                self._t.call("transact_write_items", TransactItems=[{"Update": counter}, {"Put": put}])
            except Exception as exc:
                if error_code(exc) != TX_CANCELLED:
                    raise
                codes = cancellation_codes(exc)
                if codes and not any(c in ("ConditionalCheckFailed", "TransactionConflict") for c in codes):
                    raise StorageError(f"event append for {session_id} cancelled: {codes}") from exc
                current = cancellation_item(exc, 0)
                last = int(num(current, "last")) if current and "last" in current else None
                backoff(attempt)
                continue
            self._seq_hint[session_id] = seq
            return seq
        raise ConflictError(f"could not append to the event log of {session_id} after {MAX_ATTEMPTS} attempts")

    async def append_event(self, session_id: str, type: str, data: Mapping[str, Any]) -> Event:
        ts = self._clock()
        payload = json.dumps(dict(data), default=str)
        if type in self._live_types:
            return await self._put_live(session_id, type, payload, ts)
        item: Item = {"type": s(type), "ts": n(ts), **await self._payloads.pack(payload)}
        if self._event_ttl_s:
            item[schema.TTL_ATTRIBUTE] = n(int(ts + self._event_ttl_s))
        seq = await self._t.run(lambda: self._append(session_id, item))
        return Event(session_id=session_id, seq=seq, type=type, data=json.loads(payload), ts=ts)

    # ------------------------------------------------------------ live deltas

    async def live_cursor(self, session_id: str) -> str:
        """A read_live cursor for a stream opening now: the session's newest live delta, so every delta written from
        now on sorts after it and none written before is replayed. Expired items count: they are older still."""

        pk = schema.session_pk(session_id)
        newest = await self._t.run(lambda: list(self._t.query_partition(pk, _LIVE, limit=1, descending=True)))
        return text(newest[0], schema.SK) if newest else _LIVE_START

    async def _put_live(self, session_id: str, type: str, payload: str, ts: float) -> Event:
        # time_ns orders one stream's deltas (one writer at a time per turn); the nonce keeps two writers apart.
        sk = f"{_LIVE}{time.time_ns():020d}#{os.urandom(3).hex()}"
        item: Item = {
            schema.PK: s(schema.session_pk(session_id)),
            schema.SK: s(sk),
            "type": s(type),
            "ts": n(ts),
            "data": s(payload),
            schema.TTL_ATTRIBUTE: n(int(ts + LIVE_TTL_S)),
        }
        await self._t.run(lambda: self._t.call("put_item", TableName=self._t.name, Item=item))
        # Not in the log: its seq is the log's position when it was sent (what a resuming client has seen).
        seq = self._seq_hint.get(session_id, 0)
        return Event(session_id=session_id, seq=seq, type=type, data=json.loads(payload), ts=ts)

    async def read_live(self, session_id: str, *, after: str, limit: int = 200) -> list[tuple[str, Event]]:
        """Live deltas written after the cursor `after`, oldest first, each with its own cursor."""
        live, values = self._live()

        def run() -> list[Item]:
            return list(
                self._t.query(
                    limit=limit,
                    KeyConditionExpression="PK = :pk AND SK BETWEEN :lo AND :hi",
                    FilterExpression=live,
                    ExpressionAttributeValues={
                        ":pk": s(schema.session_pk(session_id)),
                        ":lo": s(after + "~"),  # "~" sorts after the nonce: strictly after `after`
                        ":hi": s(_LIVE_END),
                        **values,
                    },
                    ConsistentRead=True,
                )
            )

        out: list[tuple[str, Event]] = []
        for item in await self._t.run(run):
            event = Event(
                session_id=session_id,
                seq=0,
                type=text(item, "type"),
                data=json.loads(text(item, "data")),
                ts=num(item, "ts"),
            )
            out.append((text(item, "SK"), event))
        return out

    async def read_events(self, session_id: str, *, after: int = 0, limit: int = 1000) -> list[Event]:
        if limit <= 0:
            return []
        live, values = self._live()

        def run() -> list[Item]:
            return list(
                self._t.query(
                    limit=limit,
                    KeyConditionExpression="PK = :pk AND SK BETWEEN :lo AND :hi",
                    FilterExpression=live,
                    ExpressionAttributeValues={
                        ":pk": s(schema.session_pk(session_id)),
                        ":lo": s(schema.event_sk(max(after, 0) + 1)),
                        ":hi": s(_EVT_END),
                        **values,
                    },
                    ConsistentRead=True,
                )
            )

        events: list[Event] = []
        for item in await self._t.run(run):
            body = await self._payloads.unpack(item)
            events.append(
                Event(
                    session_id=session_id,
                    seq=int(num(item, "seq")),
                    type=text(item, "type"),
                    data=json.loads(body),
                    ts=num(item, "ts"),
                )
            )
        return events

    async def last_seq(self, session_id: str) -> int:
        return await self._t.run(lambda: self._counter(schema.session_pk(session_id)))

    # ------------------------------------------------------------ messages

    def _cached(self, session_id: str) -> CachedMessages | None:
        with self._messages_lock:
            cached = self._messages.get(session_id)
            if cached is not None:
                self._messages.move_to_end(session_id)
            return cached

    def _keep(self, session_id: str, cached: CachedMessages | None) -> None:
        with self._messages_lock:
            if cached is None:
                self._messages.pop(session_id, None)
                return
            known = self._messages.get(session_id)
            if known is not None and known.hides == cached.hides and known.last > cached.last:
                return  # a concurrent read or put got further: keep that one
            self._messages[session_id] = cached
            self._messages.move_to_end(session_id)
            while len(self._messages) > MESSAGE_CACHE_SESSIONS:
                self._messages.popitem(last=False)

    def _remember_put(self, session_id: str, pos: int, message: Message) -> None:
        with self._messages_lock:
            cached = self._messages.get(session_id)
            if cached is not None and pos == cached.last + 1:  # else the next list reads what lies between
                entries = [*cached.entries, (pos, False, message)]
                self._messages[session_id] = CachedMessages(entries, cached.hides, cached.checked_in)

    def _newest_position(self, pk: str) -> int:
        newest = list(
            self._t.query(
                limit=1,
                KeyConditionExpression="PK = :pk AND SK BETWEEN :lo AND :hi",
                ExpressionAttributeValues={":pk": s(pk), ":lo": s(schema.message_sk(0)), ":hi": s(_MSG_END)},
                ScanIndexForward=False,
                ConsistentRead=True,
            )
        )
        return int(num(newest[0], "pos")) if newest else 0

    def _insert_message(self, session_id: str, message: Message, body: Item) -> bool:
        pk = schema.session_pk(session_id)
        message_id = message.id
        cached = self._cached(session_id)
        guess: int | None = cached.last + 1 if cached is not None else None
        for attempt in range(MAX_ATTEMPTS):
            pos = guess if guess is not None else self._newest_position(pk) + 1
            guess = None
            guard = {
                "TableName": self._t.name,
                "Item": {schema.PK: s(pk), schema.SK: s(f"MSGID#{message_id}"), "pos": n(pos)},
                "ConditionExpression": "attribute_not_exists(SK)",
            }
            put = {
                "TableName": self._t.name,
                "Item": {
                    schema.PK: s(pk),
                    schema.SK: s(schema.message_sk(pos)),
                    "pos": n(pos),
                    "id": s(message_id),
                    "hidden": {"BOOL": False},
                    **body,
                },
                "ConditionExpression": "attribute_not_exists(SK)",
            }
            try:
                self._t.call("transact_write_items", TransactItems=[{"Put": guard}, {"Put": put}])
            except Exception as exc:
                if error_code(exc) != TX_CANCELLED:
                    raise
                codes = cancellation_codes(exc)
                if codes and codes[0] == "ConditionalCheckFailed":
                    return False  # that id is stored already
                if attempt:
                    backoff(attempt)
                continue
            self._remember_put(session_id, pos, message)
            return True
        raise ConflictError(f"could not store message {message_id} in {session_id} after {MAX_ATTEMPTS} attempts")

    async def put_message(self, session_id: str, message: Message) -> bool:
        # No read first: the transaction's MSGID guard is what makes this idempotent (a repeat is rare).
        body = await self._payloads.pack(json.dumps(message_to_dict(message)))
        return await self._t.run(lambda: self._insert_message(session_id, message, body))

    async def list_messages(self, session_id: str, *, include_hidden: bool = False) -> list[Message]:
        cached = self._cached(session_id)
        work = current_work()
        if cached is None or work is None or cached.checked_in is not work:
            cached = await self._read_messages(session_id, cached)
        return [m for _, hidden, m in cached.entries if include_hidden or not hidden]

    async def _read_messages(self, session_id: str, cached: CachedMessages | None) -> CachedMessages:
        """The cache brought up to date: the positions after its last one and the hide marker, in one query."""
        lo = schema.message_sk((cached.last if cached is not None else 0) + 1)
        values = {":pk": s(schema.session_pk(session_id)), ":lo": s(lo), ":hi": s(_MSG_HI)}
        items = await self._t.run(
            lambda: list(
                self._t.query(
                    KeyConditionExpression="PK = :pk AND SK BETWEEN :lo AND :hi",
                    ExpressionAttributeValues=values,
                    ConsistentRead=True,
                )
            )
        )
        hides, new = 0, list[tuple[int, bool, Message]]()
        for item in items:
            if text(item, schema.SK) == _MSG_MARK:
                hides = int(num(item, "hides"))
                continue
            message = message_from_dict(json.loads(await self._payloads.unpack(item)))
            new.append((int(num(item, "pos")), bool(item.get("hidden", {}).get("BOOL", False)), message))
        if cached is not None and hides != cached.hides:
            return await self._read_messages(session_id, None)  # something was hidden since: read it all again
        fresh = CachedMessages([*(cached.entries if cached is not None else []), *new], hides, current_work())
        self._keep(session_id, fresh)
        return fresh

    def _hidden(self, pk: str, session_id: str, count: int) -> int:
        """After hiding: bump the marker (every process's cache of the session reads afresh) and drop ours."""
        if count:
            self._t.call(
                "update_item",
                TableName=self._t.name,
                Key={schema.PK: s(pk), schema.SK: s(_MSG_MARK)},
                UpdateExpression="ADD hides :one",
                ExpressionAttributeValues={":one": n(1)},
            )
        self._keep(session_id, None)
        return count

    def _hide(self, pk: str, pos: int, *, only_visible: bool) -> bool:
        key = {schema.PK: s(pk), schema.SK: s(schema.message_sk(pos))}
        condition = "attribute_exists(SK)" + (" AND #h = :f" if only_visible else "")
        values: dict[str, Any] = {":t": {"BOOL": True}}
        if only_visible:
            values[":f"] = {"BOOL": False}
        return self._t.update_if(key, "SET #h = :t", condition, values, {"#h": "hidden"})

    async def hide_messages_after(self, session_id: str, message_id: str | None) -> int:
        pk = schema.session_pk(session_id)

        def run() -> int:
            pos = 0
            if message_id is not None:
                guard = self._t.get(pk, f"MSGID#{message_id}")
                if guard is None:
                    raise NotFoundError(f"message {message_id} not found in session {session_id}")
                pos = int(num(guard, "pos"))
            later = self._t.query(
                KeyConditionExpression="PK = :pk AND SK BETWEEN :lo AND :hi",
                ExpressionAttributeValues={":pk": s(pk), ":lo": s(schema.message_sk(pos + 1)), ":hi": s(_MSG_END)},
                ConsistentRead=True,
            )
            hidden = sum(
                self._hide(pk, int(num(i, "pos")), only_visible=True)
                for i in later
                if not i.get("hidden", {}).get("BOOL", False)
            )
            return self._hidden(pk, session_id, hidden)

        return await self._t.run(run)

    async def hide_messages(self, session_id: str, message_ids: Sequence[str]) -> int:
        pk = schema.session_pk(session_id)

        def run() -> int:
            hidden = 0
            for mid in message_ids:
                guard = self._t.get(pk, f"MSGID#{mid}")
                if guard is not None and self._hide(pk, int(num(guard, "pos")), only_visible=False):
                    hidden += 1
            return self._hidden(pk, session_id, hidden)

        return await self._t.run(run)
