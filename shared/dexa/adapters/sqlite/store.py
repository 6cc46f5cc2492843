"""SQLite (WAL) implementation of the Store port.

One connection guarded by a lock: SQLite calls here take microseconds, so running them inline on the event loop
is cheaper than a thread hop. Several processes (CLI and server) may share the file; WAL plus BEGIN IMMEDIATE
keeps sequence numbers contiguous across them.

Another process holding the write lock must not freeze this one: a write waits at most BUSY_TIMEOUT_MS inline,
then yields the event loop and retries (until WRITE_DEADLINE_S), so other orgs' requests keep flowing; reads never
wait under WAL. The database file (and SQLite's -wal/-shm, which copy its mode) is created 0600: it holds every
org's sessions and key hashes.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from dexa.core.codec import (
    approval_from_dict,
    approval_to_dict,
    session_from_dict,
    session_to_dict,
    tool_record_from_dict,
    tool_record_to_dict,
)
from dexa.core.errors import ConflictError, NotFoundError, StorageError
from dexa.core.events import Event
from dexa.core.messages import Message, message_from_dict, message_to_dict
from dexa.core.session import Approval, Session, ToolRecord

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, org_id TEXT NOT NULL, cwd TEXT NOT NULL, updated_at REAL NOT NULL,
    version INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS sessions_org ON sessions(org_id, updated_at);
CREATE TABLE IF NOT EXISTS events (
    session_id TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL, ts REAL NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (session_id, seq));
CREATE TABLE IF NOT EXISTS messages (
    session_id TEXT NOT NULL, pos INTEGER NOT NULL, id TEXT NOT NULL, hidden INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL, PRIMARY KEY (session_id, id));
CREATE INDEX IF NOT EXISTS messages_pos ON messages(session_id, pos);
CREATE TABLE IF NOT EXISTS tool_records (
    session_id TEXT NOT NULL, tool_use_id TEXT NOT NULL, turn INTEGER NOT NULL, status TEXT NOT NULL,
    created REAL NOT NULL, data TEXT NOT NULL, PRIMARY KEY (session_id, tool_use_id));
CREATE TABLE IF NOT EXISTS approvals (
    session_id TEXT NOT NULL, id TEXT NOT NULL, status TEXT NOT NULL, created REAL NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (session_id, id));
CREATE TABLE IF NOT EXISTS kv (
    org_id TEXT NOT NULL, namespace TEXT NOT NULL, key TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (org_id, namespace, key));
"""


# Every row a session owns, by table and the column naming the session (delete_session).
_SESSION_TABLES = (
    ("events", "session_id"),
    ("messages", "session_id"),
    ("tool_records", "session_id"),
    ("approvals", "session_id"),
    ("sessions", "id"),
)
BUSY_TIMEOUT_MS = 100
WRITE_DEADLINE_S = 30.0
# Decoded rows kept per store and kind (FIFO beyond this): a long session's history, several sessions in dexa serve.
DECODED_MAX = 4096
FILE_MODE = 0o600
# Ids or prefixes per statement of a batched read: far below SQLite's bound on parameters (999 before 3.32).
_BATCH = 400


_Decoded = TypeVar("_Decoded")


def _memo(cache: dict[str, _Decoded], data: str, decode: Callable[[], _Decoded]) -> _Decoded:
    """The object decoded from a row's JSON text, decoded once while it stays among the last DECODED_MAX."""
    found = cache.get(data)
    if found is None:
        found = decode()
        if len(cache) >= DECODED_MAX:
            del cache[next(iter(cache))]
        cache[data] = found
    return found


class _BusyError(Exception):
    """The write lock is held elsewhere; retry after yielding."""


def _private_file(path: str) -> None:
    """Create the database file 0600 before SQLite does (it would use 0644), and tighten an existing one."""
    Path(path).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE))
    for suffix in ("", "-wal", "-shm"):
        try:
            os.chmod(path + suffix, FILE_MODE)
        except FileNotFoundError:
            pass
        except PermissionError:  # someone else's file: report by leaving it, never fail to open
            pass


class SqliteStore:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            _private_file(self.path)
        self._conn = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000
        )
        self._conn.execute(f"PRAGMA busy_timeout={WRITE_DEADLINE_S * 1000:.0f}")  # set-up only; see below
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(SCHEMA)
        self._conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        self._lock = threading.RLock()
        self._decoded: dict[str, Message] = {}
        # Sessions and tool records are re-read by every step (the session several times); like messages, each
        # row text is decoded once. Both are frozen, and the dicts inside are shared: no one may mutate them.
        self._sessions: dict[str, Session] = {}
        self._tool_records: dict[str, ToolRecord] = {}
        # The session as this store last read or wrote it (recalled): a step boundary's conditional update starts
        # from it instead of re-reading; a stale one fails its version check and is read afresh.
        self._recalled: dict[str, Session] = {}

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _tx(self, fn: Any) -> Any:
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    raise _BusyError from exc
                raise StorageError(f"sqlite {self.path}: {exc}") from exc
            try:
                try:
                    out = fn(self._conn)
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
                return out
            except sqlite3.Error as exc:
                raise StorageError(f"sqlite {self.path}: {exc}") from exc

    async def _write(self, fn: Any) -> Any:
        """One write transaction; while another connection holds the write lock, wait without blocking the loop."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WRITE_DEADLINE_S
        pause = 0.005
        while True:
            try:
                return self._tx(fn)
            except _BusyError as exc:
                if loop.time() >= deadline:
                    raise StorageError(
                        f"sqlite {self.path}: the database stayed locked by another connection for "
                        f"{WRITE_DEADLINE_S:.0f}s"
                    ) from exc
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.1)

    def _q(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            try:
                return self._conn.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise StorageError(f"sqlite {self.path}: {exc}") from exc

    # ------------------------------------------------------------ sessions

    async def create_session(self, session: Session) -> Session:
        data = session_to_dict(session)

        def run(c: sqlite3.Connection) -> None:
            try:
                c.execute(
                    "INSERT INTO sessions(id, org_id, cwd, updated_at, version, data) VALUES (?,?,?,?,?,?)",
                    (session.id, session.org_id, session.cwd, session.updated_at, session.version, json.dumps(data)),
                )
            except sqlite3.IntegrityError as exc:
                raise ConflictError(f"session {session.id} already exists") from exc

        await self._write(run)
        self._recall(session)
        return session

    def _recall(self, session: Session) -> None:
        self._recalled.pop(session.id, None)  # re-inserted last: FIFO order is recency
        if len(self._recalled) >= DECODED_MAX:
            del self._recalled[next(iter(self._recalled))]
        self._recalled[session.id] = session

    def recalled(self, session_id: str) -> Session | None:
        """The session as this store last read or wrote it, or None; may be stale (see TurnEngine.update_latest)."""
        return self._recalled.get(session_id)

    async def delete_session(self, session_id: str) -> None:
        def run(c: sqlite3.Connection) -> None:
            for table, column in _SESSION_TABLES:
                c.execute(f"DELETE FROM {table} WHERE {column}=?", (session_id,))

        await self._write(run)
        self._recalled.pop(session_id, None)

    async def get_session(self, session_id: str, *, org_id: str | None = None) -> Session:
        rows = self._q("SELECT org_id, data FROM sessions WHERE id=?", (session_id,))
        if not rows or (org_id is not None and rows[0][0] != org_id):
            raise NotFoundError(f"session {session_id} not found")
        data = rows[0][1]
        session = _memo(self._sessions, data, lambda: session_from_dict(json.loads(data)))
        self._recall(session)
        return session

    async def update_session(self, session: Session, *, expect_version: int | None = None) -> Session:
        from dataclasses import replace

        def run(c: sqlite3.Connection) -> Session:
            row = c.execute("SELECT version FROM sessions WHERE id=?", (session.id,)).fetchone()
            if row is None:
                raise NotFoundError(f"session {session.id} not found")
            if expect_version is not None and row[0] != expect_version:
                raise ConflictError(f"session {session.id} changed (version {row[0]} != {expect_version})")
            new = replace(session, version=row[0] + 1, updated_at=time.time())
            c.execute(
                "UPDATE sessions SET data=?, version=?, updated_at=?, cwd=? WHERE id=?",
                (json.dumps(session_to_dict(new)), new.version, new.updated_at, new.cwd, new.id),
            )
            return new

        new = await self._write(run)
        self._recall(new)
        return new

    async def list_sessions(self, *, org_id: str, limit: int = 50, cwd: str | None = None) -> list[Session]:
        if cwd is None:
            rows = self._q("SELECT data FROM sessions WHERE org_id=? ORDER BY updated_at DESC LIMIT ?", (org_id, limit))
        else:
            rows = self._q(
                "SELECT data FROM sessions WHERE org_id=? AND cwd=? ORDER BY updated_at DESC LIMIT ?",
                (org_id, cwd, limit),
            )
        return [session_from_dict(json.loads(r[0])) for r in rows]

    # ------------------------------------------------------------ events

    async def append_event(self, session_id: str, type: str, data: Mapping[str, Any]) -> Event:
        ts = time.time()
        payload = json.dumps(dict(data), default=str)

        def run(c: sqlite3.Connection) -> int:
            # One statement: the next number and the row, inside the write transaction (contiguous across processes).
            rows = c.execute(  # fetched to the end, so the statement is finished before COMMIT
                "INSERT INTO events(session_id, seq, type, ts, data) "
                "SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ? FROM events WHERE session_id=? RETURNING seq",
                (session_id, type, ts, payload, session_id),
            ).fetchall()
            return int(rows[0][0])

        seq = await self._write(run)
        return Event(session_id=session_id, seq=seq, type=type, data=json.loads(payload), ts=ts)

    async def read_events(self, session_id: str, *, after: int = 0, limit: int = 1000) -> list[Event]:
        rows = self._q(
            "SELECT seq, type, ts, data FROM events WHERE session_id=? AND seq>? ORDER BY seq LIMIT ?",
            (session_id, after, limit),
        )
        return [Event(session_id=session_id, seq=r[0], type=r[1], ts=r[2], data=json.loads(r[3])) for r in rows]

    async def last_seq(self, session_id: str) -> int:
        rows = self._q("SELECT COALESCE(MAX(seq), 0) FROM events WHERE session_id=?", (session_id,))
        return int(rows[0][0])

    async def last_seqs(self, session_ids: Sequence[str]) -> dict[str, int]:
        ids = list(dict.fromkeys(session_ids))
        out = dict.fromkeys(ids, 0)
        for start in range(0, len(ids), _BATCH):
            chunk = ids[start : start + _BATCH]
            # A subquery per id keeps SQLite's MAX-by-index shortcut (one index probe per session), which
            # GROUP BY loses (it would read every event of every listed session).
            marks = ",".join(["(?)"] * len(chunk))
            rows = self._q(
                f"WITH s(id) AS (VALUES {marks})"
                " SELECT s.id, (SELECT COALESCE(MAX(seq), 0) FROM events WHERE session_id = s.id) FROM s",
                chunk,
            )
            out.update((r[0], int(r[1])) for r in rows)
        return out

    # ------------------------------------------------------------ messages

    async def put_message(self, session_id: str, message: Message) -> bool:
        data = json.dumps(message_to_dict(message))

        def run(c: sqlite3.Connection) -> bool:
            if c.execute("SELECT 1 FROM messages WHERE session_id=? AND id=?", (session_id, message.id)).fetchone():
                return False
            row = c.execute("SELECT COALESCE(MAX(pos), 0) FROM messages WHERE session_id=?", (session_id,)).fetchone()
            c.execute(
                "INSERT INTO messages(session_id, pos, id, hidden, data) VALUES (?,?,?,0,?)",
                (session_id, int(row[0]) + 1, message.id, data),
            )
            return True

        return await self._write(run)

    async def list_messages(self, session_id: str, *, include_hidden: bool = False) -> list[Message]:
        sql = "SELECT data FROM messages WHERE session_id=?" + ("" if include_hidden else " AND hidden=0")
        rows = self._q(sql + " ORDER BY pos", (session_id,))
        return [self._decode(r[0]) for r in rows]

    def _decode(self, data: str) -> Message:
        # Every step re-reads the whole history, which only grows: each stored message is decoded once per process
        # (about half a headless request's store CPU). Keyed by the row's JSON text, so a row rewritten by another
        # process is simply a new entry. Messages are frozen; the dicts inside (tool inputs) are not, and no one
        # may mutate them.
        return _memo(self._decoded, data, lambda: message_from_dict(json.loads(data)))

    async def hide_messages_after(self, session_id: str, message_id: str | None) -> int:
        def run(c: sqlite3.Connection) -> int:
            pos = 0
            if message_id is not None:
                row = c.execute(
                    "SELECT pos FROM messages WHERE session_id=? AND id=?", (session_id, message_id)
                ).fetchone()
                if row is None:
                    raise NotFoundError(f"message {message_id} not found in session {session_id}")
                pos = int(row[0])
            cur = c.execute("UPDATE messages SET hidden=1 WHERE session_id=? AND pos>? AND hidden=0", (session_id, pos))
            return cur.rowcount

        return await self._write(run)

    async def hide_messages(self, session_id: str, message_ids: Sequence[str]) -> int:
        def run(c: sqlite3.Connection) -> int:
            n = 0
            for mid in message_ids:
                n += c.execute("UPDATE messages SET hidden=1 WHERE session_id=? AND id=?", (session_id, mid)).rowcount
            return n

        return await self._write(run)

    # ------------------------------------------------------------ tool records

    async def put_tool_record(self, record: ToolRecord) -> bool:
        def run(c: sqlite3.Connection) -> bool:
            try:
                c.execute(
                    "INSERT INTO tool_records(session_id, tool_use_id, turn, status, created, data) "
                    "VALUES (?,?,?,?,?,?)",
                    (
                        record.session_id,
                        record.tool_use_id,
                        record.turn,
                        record.status,
                        time.time(),
                        json.dumps(tool_record_to_dict(record), default=str),
                    ),
                )
            except sqlite3.IntegrityError:
                return False
            return True

        return await self._write(run)

    async def get_tool_record(self, session_id: str, tool_use_id: str) -> ToolRecord | None:
        rows = self._q("SELECT data FROM tool_records WHERE session_id=? AND tool_use_id=?", (session_id, tool_use_id))
        return tool_record_from_dict(json.loads(rows[0][0])) if rows else None

    async def transition_tool(
        self, session_id: str, tool_use_id: str, *, from_status: Sequence[str], to: ToolRecord
    ) -> bool:
        marks = ",".join("?" for _ in from_status)

        def run(c: sqlite3.Connection) -> bool:
            cur = c.execute(
                "UPDATE tool_records SET status=?, data=? "
                f"WHERE session_id=? AND tool_use_id=? AND status IN ({marks})",
                (to.status, json.dumps(tool_record_to_dict(to), default=str), session_id, tool_use_id, *from_status),
            )
            return cur.rowcount == 1

        return await self._write(run)

    async def list_tool_records(self, session_id: str, *, turn: int | None = None) -> list[ToolRecord]:
        if turn is None:
            rows = self._q("SELECT data FROM tool_records WHERE session_id=? ORDER BY created", (session_id,))
        else:
            rows = self._q(
                "SELECT data FROM tool_records WHERE session_id=? AND turn=? ORDER BY created", (session_id, turn)
            )
        cache = self._tool_records
        return [_memo(cache, r[0], lambda text=r[0]: tool_record_from_dict(json.loads(text))) for r in rows]

    # ------------------------------------------------------------ approvals

    async def put_approval(self, approval: Approval) -> None:
        def run(c: sqlite3.Connection) -> None:
            c.execute(
                "INSERT OR REPLACE INTO approvals(session_id, id, status, created, data) VALUES (?,?,?,?,?)",
                (
                    approval.session_id,
                    approval.id,
                    approval.status,
                    approval.created_at,
                    json.dumps(approval_to_dict(approval)),
                ),
            )

        await self._write(run)

    async def get_approval(self, session_id: str, approval_id: str) -> Approval | None:
        rows = self._q("SELECT data FROM approvals WHERE session_id=? AND id=?", (session_id, approval_id))
        return approval_from_dict(json.loads(rows[0][0])) if rows else None

    async def resolve_approval(self, approval: Approval) -> bool:
        def run(c: sqlite3.Connection) -> bool:
            cur = c.execute(
                "UPDATE approvals SET status=?, data=? WHERE session_id=? AND id=? AND status='pending'",
                (approval.status, json.dumps(approval_to_dict(approval)), approval.session_id, approval.id),
            )
            return cur.rowcount == 1

        return await self._write(run)

    async def list_approvals(self, session_id: str, *, status: str | None = None) -> list[Approval]:
        if status is None:
            rows = self._q("SELECT data FROM approvals WHERE session_id=? ORDER BY created", (session_id,))
        else:
            rows = self._q(
                "SELECT data FROM approvals WHERE session_id=? AND status=? ORDER BY created", (session_id, status)
            )
        return [approval_from_dict(json.loads(r[0])) for r in rows]

    # ------------------------------------------------------------ key-value documents

    async def kv_put(self, namespace: str, key: str, value: Mapping[str, Any], *, org_id: str = "") -> None:
        await self._write(
            lambda c: c.execute(
                "INSERT OR REPLACE INTO kv(org_id, namespace, key, data) VALUES (?,?,?,?)",
                (org_id, namespace, key, json.dumps(dict(value), default=str)),
            )
        )

    async def kv_put_if_absent(self, namespace: str, key: str, value: Mapping[str, Any], *, org_id: str = "") -> bool:
        def run(c: sqlite3.Connection) -> bool:
            try:
                c.execute(
                    "INSERT INTO kv(org_id, namespace, key, data) VALUES (?,?,?,?)",
                    (org_id, namespace, key, json.dumps(dict(value), default=str)),
                )
            except sqlite3.IntegrityError:
                return False
            return True

        return await self._write(run)

    async def kv_get(self, namespace: str, key: str, *, org_id: str = "") -> dict[str, Any] | None:
        rows = self._q("SELECT data FROM kv WHERE org_id=? AND namespace=? AND key=?", (org_id, namespace, key))
        return json.loads(rows[0][0]) if rows else None

    async def kv_list(self, namespace: str, *, prefix: str = "", org_id: str = "") -> list[dict[str, Any]]:
        rows = self._q(
            "SELECT data FROM kv WHERE org_id=? AND namespace=? AND key >= ? AND key < ? ORDER BY key",
            (org_id, namespace, prefix, prefix + "\uffff"),
        )
        return [json.loads(r[0]) for r in rows]

    async def kv_list_many(
        self, namespace: str, prefixes: Sequence[str], *, org_id: str = ""
    ) -> dict[str, list[dict[str, Any]]]:
        wanted = list(dict.fromkeys(prefixes))
        out: dict[str, list[dict[str, Any]]] = {p: [] for p in wanted}
        for start in range(0, len(wanted), _BATCH):
            chunk = wanted[start : start + _BATCH]
            # The prefixes as a table joined to kv: one index range per prefix (kv_list's range), where an OR of
            # ranges in the WHERE clause would scan the whole namespace.
            ranges = ",".join(["(?, ?)"] * len(chunk))
            rows = self._q(
                f"WITH p(lo, hi) AS (VALUES {ranges}) SELECT p.lo, kv.data FROM p JOIN kv"
                " ON kv.org_id=? AND kv.namespace=? AND kv.key >= p.lo AND kv.key < p.hi ORDER BY p.lo, kv.key",
                [*(b for p in chunk for b in (p, p + "\uffff")), org_id, namespace],
            )
            for prefix, data in rows:
                out[prefix].append(json.loads(data))
        return out

    async def kv_delete(self, namespace: str, key: str, *, org_id: str = "") -> None:
        await self._write(
            lambda c: c.execute("DELETE FROM kv WHERE org_id=? AND namespace=? AND key=?", (org_id, namespace, key))
        )
