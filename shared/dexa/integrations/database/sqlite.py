"""SQLite through the standard library: reads on a `mode=ro` connection, a progress handler as the timeout."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from dexa.core.errors import PermissionDeniedError, ToolError, ToolInputError, ToolTimeoutError

from . import statements
from .base import QueryLimits, RowCollector

T = TypeVar("T")
_NEAR = re.compile(r'near "(.*)": syntax error')
# The progress handler runs every N virtual-machine steps; small enough to stop a runaway query within ms.
_STEPS = 1000


class _Deadline:
    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.at = time.monotonic() + timeout_s
        self.hit = False

    def __call__(self) -> int:
        if time.monotonic() > self.at:
            self.hit = True
            return 1  # non-zero interrupts the statement
        return 0


class SqliteDatabase:
    engine = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self, *, read_only: bool) -> sqlite3.Connection:
        mode = "ro" if read_only else "rw"  # rw: never create a file that is not there
        try:
            conn = sqlite3.connect(
                f"{self.path.as_uri()}?mode={mode}", uri=True, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise ToolError(f"cannot open SQLite database {self.path}: {exc}") from None
        if read_only:
            conn.execute("PRAGMA query_only = ON")
        return conn

    def _error(self, exc: sqlite3.Error, sql: str, deadline: _Deadline) -> Exception:
        text = str(exc)
        if deadline.hit or text == "interrupted":
            return ToolTimeoutError(f"the statement timed out after {deadline.timeout_s:g}s and was interrupted")
        if "readonly" in text.replace("-", "").replace(" ", "") or "attempt to write" in text:
            return PermissionDeniedError(
                f"{text}: the query tool is read-only; stage a change with execute_sql for a reviewer to approve"
            )
        near = _NEAR.search(text)
        if near:
            index = statements.code_only(sql).find(near.group(1)) if near.group(1) else -1
            return ToolInputError(f"{text}{statements.error_position(sql, index + 1 if index >= 0 else None)}")
        if text.startswith(("no such table", "no such column", "incomplete input")):
            return ToolInputError(text)
        return ToolError(f"SQLite error: {text}")

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.to_thread(fn)

    # ------------------------------------------------------------ introspection

    async def schema(self, *, table: str | None = None) -> dict[str, Any]:
        return await self._run(lambda: self._schema(table))

    def _schema(self, table: str | None) -> dict[str, Any]:
        conn = self._connect(read_only=True)
        try:
            names = conn.execute(
                "SELECT name, type FROM sqlite_schema WHERE type IN ('table', 'view') "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            ).fetchall()
            found: list[dict[str, Any]] = []
            for name, kind in names:
                if table is not None and name != table:
                    continue
                quoted = '"' + name.replace('"', '""') + '"'
                columns = conn.execute(f"PRAGMA table_info({quoted})").fetchall()
                fks = conn.execute(f"PRAGMA foreign_key_list({quoted})").fetchall()
                estimate = conn.execute(f"SELECT count(*) FROM {quoted}").fetchone()[0]
                found.append(
                    {
                        "schema": "main",
                        "name": name,
                        "type": kind,
                        "row_estimate": int(estimate),
                        "columns": [
                            {"name": c[1], "type": c[2], "nullable": not c[3], "default": c[4]} for c in columns
                        ],
                        "primary_key": [c[1] for c in sorted(columns, key=lambda c: c[5]) if c[5]],
                        "foreign_keys": [{"column": f[3], "references": f"{f[2]}({f[4]})"} for f in fks],
                    }
                )
        finally:
            conn.close()
        if table is not None and not found:
            raise ToolInputError(f"no table or view named {table!r}")
        return {"engine": self.engine, "tables": found}

    # ------------------------------------------------------------ reads

    async def query(self, sql: str, limits: QueryLimits) -> dict[str, Any]:
        sql = statements.single_statement(sql)
        if statements.is_write(sql):
            raise PermissionDeniedError(
                f"query runs read-only SQL; {statements.verb(sql).upper()} changes data. Stage it with "
                "execute_sql instead: a reviewer sees the rows it would change and approves it"
            )
        return await self._run(lambda: self._query(sql, limits))

    def _query(self, sql: str, limits: QueryLimits) -> dict[str, Any]:
        conn = self._connect(read_only=True)
        deadline = _Deadline(limits.timeout_s)
        conn.set_progress_handler(deadline, _STEPS)
        collector = RowCollector(limits)
        try:
            cur = conn.execute(sql)
            columns = [d[0] for d in cur.description or ()]
            for row in cur:
                if not collector.add(row):
                    break
        except sqlite3.Error as exc:
            raise self._error(exc, sql, deadline) from None
        finally:
            conn.close()
        return collector.result(columns)

    # ------------------------------------------------------------ writes

    async def preview(self, sql: str, limits: QueryLimits) -> dict[str, Any]:
        sql = statements.single_statement(sql)
        if not statements.is_write(sql):
            raise ToolInputError("this statement only reads; run it with the query tool")
        return await self._run(lambda: self._preview(sql, limits))

    def _preview(self, sql: str, limits: QueryLimits) -> dict[str, Any]:
        probe = sql
        if statements.verb(sql) in ("insert", "update", "delete", "replace") and not statements.has_returning(sql):
            probe = f"{sql}\nRETURNING *"
        conn = self._connect(read_only=False)
        deadline = _Deadline(limits.timeout_s)
        conn.set_progress_handler(deadline, _STEPS)
        collector = RowCollector(limits)
        try:
            conn.execute("BEGIN")
            cur = conn.execute(probe)
            columns = [d[0] for d in cur.description or ()]
            # SQLite applies every change on the first step; the rest only reads back RETURNING rows.
            rows = cur.fetchall()
            for row in rows:
                if not collector.add(row):
                    break
            rowcount = len(rows) if probe is not sql else cur.rowcount
        except sqlite3.Error as exc:
            raise self._error(exc, sql, deadline) from None
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")  # a dry run: nothing it did survives
            conn.close()
        return collector.result(columns, statement=sql, rowcount=rowcount, dry_run="rolled back")

    async def execute(self, sql: str, *, timeout_s: float) -> dict[str, Any]:
        sql = statements.single_statement(sql)
        return await self._run(lambda: self._execute(sql, timeout_s))

    def _execute(self, sql: str, timeout_s: float) -> dict[str, Any]:
        conn = self._connect(read_only=False)
        deadline = _Deadline(timeout_s)
        conn.set_progress_handler(deadline, _STEPS)
        try:
            conn.execute("BEGIN IMMEDIATE")
            cur = conn.execute(sql)
            rowcount = cur.rowcount
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise self._error(exc, sql, deadline) from None
        finally:
            conn.close()
        return {"statement": sql, "rowcount": rowcount, "status": f"{statements.verb(sql).upper()} {rowcount}"}
