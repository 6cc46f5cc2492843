"""DynamoDB implementation of the Store port: one table, bounded key ranges only (never a Scan).

Semantics match dexa.adapters.sqlite.SqliteStore exactly; tests/contract runs the same suite on both.
"""

from __future__ import annotations

import contextvars
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from dexa.core.codec import (
    approval_from_dict,
    approval_to_dict,
    session_from_dict,
    session_to_dict,
    tool_record_from_dict,
    tool_record_to_dict,
)
from dexa.core.errors import ConflictError, NotFoundError, StorageError
from dexa.core.events import EventType
from dexa.core.ports import BlobStore
from dexa.core.session import Approval, Session, ToolRecord

from . import schema
from ._ddb import CONDITION_FAILED, Item, Table, backoff, create_table, error_code, n, num, s, text
from .dynamo_batch import batch_get
from .dynamo_log import _SEQ_SK, MAX_ATTEMPTS, CachedMessages, LogMixin, Payloads

logger = logging.getLogger(__name__)

_META = "META"
# Sessions this process read or wrote last, by id: update_session's first guess at the stored version (the item is
# only written conditionally on that version, so a stale guess costs a re-read, never a lost update).
_RECALL_SIZE = 512
# Queries in flight at once for one kv_list_many: within botocore's default pool of 10 connections per client.
_PARALLEL_QUERIES = 8


def _gsi_sort(updated_at: float, session_id: str) -> str:
    # Fixed width so string order is time order.
    return f"{updated_at:020.6f}#{session_id}"


def _check_part(kind: str, value: str) -> None:
    if "#" in value:
        raise StorageError(f"invalid {kind} {value!r}: '#' is reserved as the key separator")


def _refuse_ended_turn(new: Session, stored: Session) -> None:
    """A turn that ended (cancelled, failed, finished) never comes back: a step still running when its turn was
    cancelled must not write that turn's state over the idle session. Raises ConflictError (Step Functions retries
    it, and the retried task finds the turn over)."""
    turn = new.turn_state.turn if new.turn_state is not None else None
    if turn is None:
        return
    current = stored.turn_state.turn if stored.turn_state is not None else None
    if (current is None and stored.turns_completed >= turn) or (current is not None and current > turn):
        raise ConflictError(f"session {new.id}: turn {turn} already ended; its state is not written back")


class DynamoStore(LogMixin):
    """Sessions, events, messages, tool records, approvals and kv documents in one DynamoDB table.

    Args:
        table_name: the table (the data stack exports it as DEXA_TABLE).
        client: a boto3 DynamoDB client; one is created when omitted.
        overflow: where payloads too big for an item go (S3BlobStore in the cloud). Without it a too-large
            item fails with StorageError.
        event_ttl_s: events expire this long after they were written (None keeps them forever).
        kv_ttl_s: per-namespace TTL for kv documents (checkpoint manifests by default).
        live_deltas: model deltas become live items for connected streams instead of log events (dynamo_log.py).
    """

    def __init__(
        self,
        table_name: str = schema.DEFAULT_TABLE_NAME,
        *,
        client: Any = None,
        region: str | None = None,
        overflow: BlobStore | None = None,
        event_ttl_s: float | None = schema.EVENT_TTL_SECONDS,
        kv_ttl_s: Mapping[str, int] | None = None,
        clock: Callable[[], float] = time.time,
        live_deltas: bool = False,
    ) -> None:
        if client is None:
            from botocore.config import Config

            from .clients import shared_client

            # Shared in a Lambda container: the API's authorizer and its runtime each make a store.
            client = shared_client(
                "dynamodb", region=region, config=Config(retries={"mode": "standard", "max_attempts": 6})
            )
        self._t = Table(client, table_name)
        self._payloads = Payloads(overflow)
        self._clock = clock
        self._event_ttl_s = event_ttl_s
        self._kv_ttl = dict(schema.KV_TTL_SECONDS if kv_ttl_s is None else kv_ttl_s)
        self._seq_hint: dict[str, int] = {}
        # Striped, so the lock table never grows with the number of sessions a process has seen.
        self._append_locks = [threading.Lock() for _ in range(64)]
        self._live_types = frozenset({EventType.TEXT_DELTA, EventType.THINKING_DELTA}) if live_deltas else frozenset()
        self._recalled: OrderedDict[str, Session] = OrderedDict()
        self._messages = OrderedDict[str, CachedMessages]()
        self._messages_lock = threading.Lock()
        self._recall_lock = threading.Lock()

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, overflow: BlobStore | None = None, client: Any = None) -> DynamoStore:
        days = env.get(schema.ENV_EVENT_TTL_DAYS)
        return cls(
            env.get(schema.ENV_TABLE, schema.DEFAULT_TABLE_NAME),
            client=client,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"),
            overflow=overflow,
            event_ttl_s=(float(days) * 86_400 or None) if days else schema.EVENT_TTL_SECONDS,
            live_deltas=env.get(schema.ENV_LIVE_DELTAS, "") == "1",
        )

    @property
    def table_name(self) -> str:
        return self._t.name

    def create_table(self) -> None:
        """Create the table with the stack's key schema (tests, MiniStack, local development)."""
        create_table(self._t.client, self._t.name)

    def close(self) -> None:
        return None

    # ------------------------------------------------------------ sessions

    def _session_item(self, session: Session) -> Item:
        return {
            schema.PK: s(schema.session_pk(session.id)),
            schema.SK: s(_META),
            schema.GSI1PK: s(schema.org_sessions_gsi(session.org_id)),
            schema.GSI1SK: s(_gsi_sort(session.updated_at, session.id)),
            "org_id": s(session.org_id),
            "cwd": s(session.cwd),
            "version": n(session.version),
            "updated_at": n(session.updated_at),
            "data": s(json.dumps(session_to_dict(session))),
        }

    async def create_session(self, session: Session) -> Session:
        if not await self._t.run(lambda: self._t.put_new(self._session_item(session))):
            raise ConflictError(f"session {session.id} already exists")
        return session

    async def delete_session(self, session_id: str) -> None:
        pk = schema.session_pk(session_id)

        def run() -> None:
            # Everything a session owns shares its partition; its listing row (GSI1) goes with the META item.
            items = self._t.query(
                KeyConditionExpression="PK = :pk", ExpressionAttributeValues={":pk": s(pk)}, ConsistentRead=True
            )
            for item in list(items):
                key = {schema.PK: item[schema.PK], schema.SK: item[schema.SK]}
                self._t.call("delete_item", TableName=self._t.name, Key=key)

        await self._t.run(run)
        with self._recall_lock:
            self._recalled.pop(session_id, None)

    def _recall(self, session_id: str) -> Session | None:
        with self._recall_lock:
            return self._recalled.get(session_id)

    def recalled(self, session_id: str) -> Session | None:
        """The session as this process last read or wrote it (no request; possibly stale: for hints only)."""
        return self._recall(session_id)

    def _remember(self, session: Session) -> Session:
        with self._recall_lock:
            known = self._recalled.get(session.id)
            if known is not None and known.version > session.version:
                return session  # a read that finished after a newer write in this process: keep the newer
            self._recalled[session.id] = session
            self._recalled.move_to_end(session.id)
            while len(self._recalled) > _RECALL_SIZE:
                self._recalled.popitem(last=False)
        return session

    async def get_session(self, session_id: str, *, org_id: str | None = None) -> Session:
        item = await self._t.run(lambda: self._t.get(schema.session_pk(session_id), _META))
        if item is None or (org_id is not None and text(item, "org_id") != org_id):
            raise NotFoundError(f"session {session_id} not found")
        return self._remember(session_from_dict(json.loads(text(item, "data"))))

    async def update_session(self, session: Session, *, expect_version: int | None = None) -> Session:
        """Conditional on the stored version. The version this process last read or wrote is tried first (most
        updates follow a read of the same session: one PutItem instead of GetItem + PutItem); a stale one costs a
        re-read, as does any conflict."""

        def run() -> Session:
            stored = self._recall(session.id)
            fresh = stored is None
            for attempt in range(MAX_ATTEMPTS):
                if stored is None:
                    current = self._t.get(schema.session_pk(session.id), _META)
                    if current is None:
                        raise NotFoundError(f"session {session.id} not found")
                    stored, fresh = session_from_dict(json.loads(text(current, "data"))), True
                version = stored.version
                if expect_version is not None and version != expect_version:
                    if not fresh:
                        stored = None
                        continue
                    raise ConflictError(f"session {session.id} changed (version {version} != {expect_version})")
                # A turn only ever ends: if a stale copy shows it ended, the stored session shows it too.
                _refuse_ended_turn(session, stored)
                new = replace(session, version=version + 1, updated_at=time.time())
                try:
                    self._t.call(
                        "put_item",
                        TableName=self._t.name,
                        Item=self._session_item(new),
                        ConditionExpression="#v = :v",
                        ExpressionAttributeNames={"#v": "version"},
                        ExpressionAttributeValues={":v": n(version)},
                    )
                except Exception as exc:
                    if error_code(exc) != CONDITION_FAILED:
                        raise
                    if expect_version is not None and fresh:
                        raise ConflictError(f"session {session.id} changed while updating") from exc
                    if fresh:
                        backoff(attempt)
                    stored = None
                    continue
                return self._remember(new)
            raise ConflictError(f"session {session.id}: too much write contention")

        return await self._t.run(run)

    async def last_seqs(self, session_ids: Sequence[str]) -> dict[str, int]:
        """The sessions' event counters (the item last_seq reads) in one BatchGetItem per 100 sessions."""
        ids = list(dict.fromkeys(session_ids))
        keys = [{schema.PK: s(schema.session_pk(i)), schema.SK: s(_SEQ_SK)} for i in ids]
        names = {"#pk": schema.PK, "#last": "last"}
        items = await self._t.run(lambda: batch_get(self._t, keys, projection="#pk, #last", names=names))
        out = dict.fromkeys(ids, 0)
        cut = len(schema.session_pk(""))
        for item in items:
            out[text(item, schema.PK)[cut:]] = int(num(item, "last"))
        return out

    async def list_sessions(self, *, org_id: str, limit: int = 50, cwd: str | None = None) -> list[Session]:
        if limit <= 0:
            return []
        kwargs: dict[str, Any] = {
            "IndexName": schema.GSI1,
            "KeyConditionExpression": "GSI1PK = :pk",
            "ExpressionAttributeValues": {":pk": s(schema.org_sessions_gsi(org_id))},
            "ScanIndexForward": False,
        }
        if cwd is not None:
            kwargs["FilterExpression"] = "#cwd = :cwd"
            kwargs["ExpressionAttributeNames"] = {"#cwd": "cwd"}
            kwargs["ExpressionAttributeValues"][":cwd"] = s(cwd)
        items = await self._t.run(lambda: list(self._t.query(limit=limit, **kwargs)))
        return [session_from_dict(json.loads(text(i, "data"))) for i in items]

    # ------------------------------------------------------------ tool records

    def _tool_key(self, session_id: str, tool_use_id: str) -> Item:
        return {schema.PK: s(schema.session_pk(session_id)), schema.SK: s(f"TOOL#{tool_use_id}")}

    async def put_tool_record(self, record: ToolRecord) -> bool:
        item = {
            **self._tool_key(record.session_id, record.tool_use_id),
            "status": s(record.status),
            "turn": n(record.turn),
            "created": n(time.time()),
            **await self._payloads.pack(json.dumps(tool_record_to_dict(record), default=str)),
        }
        return await self._t.run(lambda: self._t.put_new(item))

    async def get_tool_record(self, session_id: str, tool_use_id: str) -> ToolRecord | None:
        key = self._tool_key(session_id, tool_use_id)
        item = await self._t.run(lambda: self._t.get(key[schema.PK]["S"], key[schema.SK]["S"]))
        return None if item is None else tool_record_from_dict(json.loads(await self._payloads.unpack(item)))

    async def transition_tool(
        self, session_id: str, tool_use_id: str, *, from_status: Sequence[str], to: ToolRecord
    ) -> bool:
        if not from_status:
            return False
        body = await self._payloads.pack(json.dumps(tool_record_to_dict(to), default=str))
        field, value = next(iter(body.items()))
        other = "blob" if field == "data" else "data"
        marks = {f":f{i}": s(v) for i, v in enumerate(from_status)}
        return await self._t.run(
            lambda: self._t.update_if(
                self._tool_key(session_id, tool_use_id),
                "SET #st = :to, #body = :body REMOVE #other",
                f"attribute_exists(SK) AND #st IN ({', '.join(marks)})",
                {":to": s(to.status), ":body": value, **marks},
                {"#st": "status", "#body": field, "#other": other},
            )
        )

    async def list_tool_records(self, session_id: str, *, turn: int | None = None) -> list[ToolRecord]:
        pk = schema.session_pk(session_id)
        items = await self._t.run(lambda: list(self._t.query_partition(pk, "TOOL#")))
        if turn is not None:
            items = [i for i in items if int(num(i, "turn")) == turn]
        items.sort(key=lambda i: num(i, "created"))
        return [tool_record_from_dict(json.loads(await self._payloads.unpack(i))) for i in items]

    # ------------------------------------------------------------ approvals

    async def _approval_item(self, approval: Approval) -> Item:
        # The approval carries the tool's whole input (a Write of a large file): big ones go to the blob store.
        item: Item = {
            schema.PK: s(schema.session_pk(approval.session_id)),
            schema.SK: s(f"APPROVAL#{approval.id}"),
            "status": s(approval.status),
            "created": n(approval.created_at),
            **await self._payloads.pack(json.dumps(approval_to_dict(approval), default=str)),
        }
        if approval.task_token:
            item["task_token"] = s(approval.task_token)
        return item

    async def _approval(self, item: Item) -> Approval:
        approval = approval_from_dict(json.loads(await self._payloads.unpack(item)))
        # The token also lives in its own attribute, so a decision written without it (resolve) keeps it.
        token = text(item, "task_token")
        return replace(approval, task_token=token) if token and not approval.task_token else approval

    async def attach_task_token(self, session_id: str, approval_id: str, token: str) -> bool:
        """Store a Step Functions task token on an approval that is still pending (False once decided).

        Beyond the ApprovalStore port: a plain put_approval could overwrite a decision that raced in.
        """
        key = {schema.PK: s(schema.session_pk(session_id)), schema.SK: s(f"APPROVAL#{approval_id}")}
        return await self._t.run(
            lambda: self._t.update_if(
                key,
                "SET task_token = :t",
                "#st = :pending",
                {":t": s(token), ":pending": s("pending")},
                {"#st": "status"},
            )
        )

    async def put_approval(self, approval: Approval) -> None:
        item = await self._approval_item(approval)
        await self._t.run(lambda: self._t.call("put_item", TableName=self._t.name, Item=item))

    async def get_approval(self, session_id: str, approval_id: str) -> Approval | None:
        item = await self._t.run(lambda: self._t.get(schema.session_pk(session_id), f"APPROVAL#{approval_id}"))
        return None if item is None else await self._approval(item)

    async def resolve_approval(self, approval: Approval) -> bool:
        item = await self._approval_item(approval)
        key = {schema.PK: item[schema.PK], schema.SK: item[schema.SK]}
        field = "data" if "data" in item else "blob"
        other = "blob" if field == "data" else "data"
        return await self._t.run(
            lambda: self._t.update_if(
                key,
                "SET #st = :st, #body = :body REMOVE #other",
                "attribute_exists(SK) AND #st = :pending",
                {":st": item["status"], ":body": item[field], ":pending": s("pending")},
                {"#st": "status", "#body": field, "#other": other},
            )
        )

    async def list_approvals(self, session_id: str, *, status: str | None = None) -> list[Approval]:
        pk = schema.session_pk(session_id)
        items = await self._t.run(lambda: list(self._t.query_partition(pk, "APPROVAL#")))
        if status is not None:
            items = [i for i in items if text(i, "status") == status]
        items.sort(key=lambda i: num(i, "created"))
        return [await self._approval(i) for i in items]

    # ------------------------------------------------------------ key-value documents

    def _kv_key(self, org_id: str, namespace: str, key: str) -> Item:
        _check_part("org id", org_id)
        _check_part("namespace", namespace)
        # "K#" keeps the sort key non-empty (DynamoDB rejects empty key strings) and prefix queries valid.
        return {schema.PK: s(schema.kv_pk(org_id, namespace)), schema.SK: s(f"K#{key}")}

    async def _kv_item(self, namespace: str, key: str, value: Mapping[str, Any], org_id: str) -> Item:
        item: Item = {
            **self._kv_key(org_id, namespace, key),
            **await self._payloads.pack(json.dumps(dict(value), default=str)),
        }
        ttl = self._kv_ttl.get(namespace)
        if ttl:
            item[schema.TTL_ATTRIBUTE] = n(int(self._clock() + ttl))
        return item

    async def kv_put(self, namespace: str, key: str, value: Mapping[str, Any], *, org_id: str = "") -> None:
        item = await self._kv_item(namespace, key, value, org_id)
        await self._t.run(lambda: self._t.call("put_item", TableName=self._t.name, Item=item))

    async def kv_put_if_absent(self, namespace: str, key: str, value: Mapping[str, Any], *, org_id: str = "") -> bool:
        item = await self._kv_item(namespace, key, value, org_id)

        def run() -> bool:
            try:
                self._t.call(
                    "put_item",
                    TableName=self._t.name,
                    Item=item,
                    ConditionExpression="attribute_not_exists(SK) OR #exp <= :now",
                    ExpressionAttributeNames={"#exp": schema.TTL_ATTRIBUTE},
                    ExpressionAttributeValues={":now": n(int(self._clock()))},
                )
            except Exception as exc:
                if error_code(exc) == CONDITION_FAILED:
                    return False
                raise
            return True

        return await self._t.run(run)

    def _expired(self, item: Item) -> bool:
        return schema.TTL_ATTRIBUTE in item and num(item, schema.TTL_ATTRIBUTE) <= self._clock()

    async def kv_get(self, namespace: str, key: str, *, org_id: str = "") -> dict[str, Any] | None:
        k = self._kv_key(org_id, namespace, key)
        item = await self._t.run(lambda: self._t.get(k[schema.PK]["S"], k[schema.SK]["S"]))
        if item is None or self._expired(item):
            return None
        return json.loads(await self._payloads.unpack(item))

    def _kv_range(self, namespace: str, prefix: str, org_id: str) -> Callable[[], list[Item]]:
        k = self._kv_key(org_id, namespace, prefix)
        return lambda: list(self._t.query_partition(k[schema.PK]["S"], k[schema.SK]["S"]))

    async def _kv_docs(self, items: list[Item]) -> list[dict[str, Any]]:
        return [json.loads(await self._payloads.unpack(i)) for i in items if not self._expired(i)]

    async def kv_list(self, namespace: str, *, prefix: str = "", org_id: str = "") -> list[dict[str, Any]]:
        return await self._kv_docs(await self._t.run(self._kv_range(namespace, prefix, org_id)))

    async def kv_list_many(
        self, namespace: str, prefixes: Sequence[str], *, org_id: str = ""
    ) -> dict[str, list[dict[str, Any]]]:
        """A prefix is a key range, which no batch read covers (a session's checkpoint documents are K#{sid}:{seq}
        in a partition shared by every session): one Query per prefix, but side by side, so that a page waits about
        one round trip instead of one per row."""
        wanted = list(dict.fromkeys(prefixes))
        reads = [self._kv_range(namespace, p, org_id) for p in wanted]  # bad names fail here, before any request
        if len(reads) <= 1:
            ranges = [await self._t.run(read) for read in reads]
        else:
            # Each query runs in the caller's context (the step's call counter sees it).
            contexts = [contextvars.copy_context() for _ in reads]

            def run_all() -> list[list[Item]]:
                # Imported here: concurrent.futures.thread is not otherwise loaded by a cold API Lambda.
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(max_workers=min(_PARALLEL_QUERIES, len(reads))) as pool:
                    return list(pool.map(lambda c, read: c.run(read), contexts, reads))

            ranges = await self._t.run(run_all)
        return {p: await self._kv_docs(items) for p, items in zip(wanted, ranges, strict=True)}

    async def kv_delete(self, namespace: str, key: str, *, org_id: str = "") -> None:
        k = self._kv_key(org_id, namespace, key)
        await self._t.run(lambda: self._t.call("delete_item", TableName=self._t.name, Key=k))
