"""Postgres through psycopg 3: a connection per call, reads in READ ONLY transactions, dry runs rolled back."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, LiteralString, cast

import psycopg
from psycopg import errors as pg_errors

from dexa.core.errors import PermissionDeniedError, ToolError, ToolInputError, ToolTimeoutError

from . import statements
from .base import QueryLimits, RowCollector
from .dsn import scrub, where

logger = logging.getLogger(__name__)

_CURSOR = "dexa_read"
# psycopg declares a server-side cursor as this prefix + the query, so error positions are shifted by its length.
_DECLARE_PREFIX = len(f'DECLARE "{_CURSOR}" CURSOR FOR ')
# Statements a server-side cursor can hold; SHOW and EXPLAIN are small and are fetched directly.
_CURSOR_VERBS = frozenset({"select", "with", "values", "table"})
_SCHEMA_SKIP = "('pg_catalog', 'information_schema', 'pg_toast')"

_COLUMNS = f"""
SELECT c.table_schema, c.table_name, c.column_name, c.data_type, c.is_nullable = 'YES', c.column_default
FROM information_schema.columns c
WHERE c.table_schema NOT IN {_SCHEMA_SKIP}
ORDER BY c.table_schema, c.table_name, c.ordinal_position"""
_TABLES = f"""
SELECT n.nspname, c.relname, c.relkind::text,
       CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint ELSE COALESCE(s.n_live_tup, 0) END
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname NOT IN {_SCHEMA_SKIP}
ORDER BY 1, 2"""
_KEYS = f"""
SELECT n.nspname, cl.relname, con.contype::text, con.conname, pg_get_constraintdef(con.oid)
FROM pg_constraint con JOIN pg_class cl ON cl.oid = con.conrelid JOIN pg_namespace n ON n.oid = cl.relnamespace
WHERE con.contype IN ('p', 'f', 'u') AND n.nspname NOT IN {_SCHEMA_SKIP}
ORDER BY 1, 2, 4"""
_KEY_KINDS = {"p": "primary_key", "f": "foreign_keys", "u": "unique"}


def _q(text: str) -> LiteralString:
    """Running the agent's SQL is this integration's purpose; the transaction mode, not quoting, confines it."""
    return cast(LiteralString, text)


class PostgresDatabase:
    engine = "postgres"

    def __init__(self, dsn: str, *, connect_timeout_s: int = 10) -> None:
        self._dsn = dsn
        self._connect_timeout_s = connect_timeout_s

    def __repr__(self) -> str:  # never the password, even in a traceback
        return f"PostgresDatabase({where(self._dsn)})"

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        try:
            conn = await psycopg.AsyncConnection.connect(
                self._dsn, connect_timeout=self._connect_timeout_s, application_name="dexa", autocommit=False
            )
        except psycopg.Error as exc:
            reason = scrub(str(exc).strip(), self._dsn).removeprefix("connection failed: ")
            raise ToolError(f"cannot connect to Postgres at {where(self._dsn)}: {reason}") from None
        try:
            yield conn
        finally:
            await conn.close()

    def _error(self, exc: psycopg.Error, sql: str, *, timeout_s: float, offset: int = 0) -> Exception:
        message = scrub(exc.diag.message_primary or str(exc), self._dsn)
        if isinstance(exc, pg_errors.QueryCanceled):
            return ToolTimeoutError(
                f"the statement timed out after {timeout_s:g}s (statement_timeout); it was cancelled"
            )
        if isinstance(exc, pg_errors.ReadOnlySqlTransaction):
            return PermissionDeniedError(
                f"{message}: the query tool is read-only; stage a change with execute_sql for a reviewer to approve"
            )
        position = exc.diag.statement_position
        at = statements.error_position(sql, int(position) - offset if position else None)
        if isinstance(exc, pg_errors.SyntaxError | pg_errors.UndefinedTable | pg_errors.UndefinedColumn):
            return ToolInputError(f"{message}{at}")
        return ToolError(f"Postgres error {exc.sqlstate or ''}: {message}{at}".replace("  ", " "))

    # ------------------------------------------------------------ introspection

    async def schema(self, *, table: str | None = None) -> dict[str, Any]:
        async with self._connection() as conn:
            await conn.execute("SET TRANSACTION READ ONLY")
            tables: dict[tuple[str, str], dict[str, Any]] = {}
            for schema, name, kind, rows in await (await conn.execute(_TABLES)).fetchall():
                view = {"v": "view", "m": "materialized view", "f": "foreign table"}.get(kind, "table")
                tables[(schema, name)] = {
                    "schema": schema,
                    "name": name,
                    "type": view,
                    "row_estimate": int(rows),
                    "columns": [],
                    "primary_key": [],
                    "foreign_keys": [],
                    "unique": [],
                }
            for schema, name, column, type_, nullable, default in await (await conn.execute(_COLUMNS)).fetchall():
                if (schema, name) in tables:
                    tables[(schema, name)]["columns"].append(
                        {"name": column, "type": type_, "nullable": bool(nullable), "default": default}
                    )
            for schema, name, kind, conname, definition in await (await conn.execute(_KEYS)).fetchall():
                if (schema, name) in tables:
                    tables[(schema, name)][_KEY_KINDS[kind]].append({"name": conname, "definition": definition})
            await conn.rollback()
        found = [t for t in tables.values() if table is None or table in (t["name"], f"{t['schema']}.{t['name']}")]
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
        collector = RowCollector(limits)
        async with self._connection() as conn:
            offset = 0
            try:
                await conn.execute("SET TRANSACTION READ ONLY")
                await conn.execute(_q(f"SET LOCAL statement_timeout = {int(limits.timeout_s * 1000)}"))
                if statements.verb(sql) in _CURSOR_VERBS:
                    offset = _DECLARE_PREFIX
                    async with conn.cursor(name=_CURSOR) as cur:
                        await cur.execute(_q(sql))
                        offset = 0
                        columns = [d.name for d in cur.description or ()]
                        await _drain(cur, collector)
                else:
                    cur = conn.cursor()
                    await cur.execute(_q(sql))
                    columns = [d.name for d in cur.description or ()]
                    for row in await cur.fetchall():
                        if not collector.add(row):
                            break
            except psycopg.Error as exc:
                raise self._error(exc, sql, timeout_s=limits.timeout_s, offset=offset) from None
            finally:
                await conn.rollback()
        return collector.result(columns)

    # ------------------------------------------------------------ writes

    async def preview(self, sql: str, limits: QueryLimits) -> dict[str, Any]:
        sql = statements.single_statement(sql)
        if not statements.is_write(sql):
            raise ToolInputError("this statement only reads; run it with the query tool")
        # RETURNING * shows the rows a write would leave; MERGE before Postgres 17 cannot return them.
        probe = sql
        if statements.verb(sql) in ("insert", "update", "delete") and not statements.has_returning(sql):
            probe = f"{sql}\nRETURNING *"
        collector = RowCollector(limits)
        async with self._connection() as conn:
            try:
                await conn.execute(_q(f"SET LOCAL statement_timeout = {int(limits.timeout_s * 1000)}"))
                cur = conn.cursor()
                await cur.execute(_q(probe))
                rowcount = cur.rowcount
                columns = [d.name for d in cur.description or ()]
                if cur.description:
                    for row in await cur.fetchall():
                        if not collector.add(row):
                            break
            except psycopg.Error as exc:
                raise self._error(exc, sql, timeout_s=limits.timeout_s) from None
            finally:
                await conn.rollback()  # a dry run: nothing it did survives
        return collector.result(columns, statement=sql, rowcount=rowcount, dry_run="rolled back")

    async def execute(self, sql: str, *, timeout_s: float) -> dict[str, Any]:
        sql = statements.single_statement(sql)
        async with self._connection() as conn:
            try:
                await conn.execute(_q(f"SET LOCAL statement_timeout = {int(timeout_s * 1000)}"))
                cur = conn.cursor()
                await cur.execute(_q(sql))
                rowcount = cur.rowcount
                status = cur.statusmessage or ""
                await conn.commit()
            except psycopg.Error as exc:
                await conn.rollback()
                raise self._error(exc, sql, timeout_s=timeout_s) from None
        return {"statement": sql, "rowcount": rowcount, "status": status}


async def _drain(cur: psycopg.AsyncServerCursor[Any], collector: RowCollector) -> None:
    while True:
        batch = await cur.fetchmany(100)
        if not batch:
            return
        for row in batch:
            if not collector.add(row):
                return
