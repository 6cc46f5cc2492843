"""Managed database server (Postgres / SQLite): schema, capped read-only SQL, and writes that are only staged.

`execute_sql` is a business output ("sql_change"): the staging gate holds it, dry-runs it with `preview_sql` for
the reviewer, and only the control plane's instance runs it, once, after approval.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Protocol

import mcp.types as types
from mcp.server.mcpserver import MCPServer

from dexa.core.errors import DexaError
from dexa.integrations.database.base import Database, QueryLimits

from .base import DESTRUCTIVE_WRITE, READ, Mode, call, guard, new_server

# A dry run changes nothing that survives (it is rolled back), but it does run the statement.
DRY_RUN = types.ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
_EXECUTE_TIMEOUT_S = 120.0


class DatabaseProvider(Protocol):
    limits: QueryLimits

    async def open(self) -> Database: ...


def build_database_server(provider: DatabaseProvider, *, mode: Mode = "agent") -> MCPServer:
    mcp = new_server(
        "database",
        "A SQL database. Read with describe_schema and query (read-only, capped). Changes go through "
        "execute_sql, which is staged: a reviewer sees the statement and the rows it would change, then approves.",
    )

    @mcp.tool(annotations=READ)
    async def describe_schema(table: str | None = None) -> dict[str, Any]:
        """Tables and views with columns, types, primary/foreign keys and row estimates (one table if named)."""
        return await call(lambda: _open_then(provider, lambda db: db.schema(table=table)))

    @mcp.tool(annotations=READ)
    async def query(sql: str, max_rows: int = 200) -> dict[str, Any]:
        """Run one read-only SQL statement (SELECT, WITH, SHOW, EXPLAIN) in a read-only transaction.

        Results are capped in rows and bytes and the statement has a timeout. Use execute_sql for changes.
        """
        limits = replace(provider.limits, max_rows=max(1, min(max_rows, provider.limits.max_rows)))
        return await call(lambda: _open_then(provider, lambda db: db.query(sql, limits)))

    @mcp.tool(annotations=DRY_RUN)
    async def preview_sql(sql: str) -> dict[str, Any]:
        """Dry-run one INSERT/UPDATE/DELETE in a transaction that is rolled back: the rows it would change.

        A statement that fails is reported as {"dry_run": "failed", "error": ...}: the staging gate reads this
        to refuse staging a change that cannot run, and tells the agent why.
        """
        try:
            return await _open_then(provider, lambda db: db.preview(sql, provider.limits))
        except DexaError as exc:
            return {"statement": sql, "dry_run": "failed", "error": str(exc)}

    @mcp.tool(annotations=DESTRUCTIVE_WRITE)
    async def execute_sql(sql: str) -> dict[str, Any]:
        """Change data with one INSERT, UPDATE, DELETE or MERGE statement (staged for review, runs once approved)."""
        guard("database", mode, "execute_sql", {"sql": sql})
        return await call(lambda: _open_then(provider, lambda db: db.execute(sql, timeout_s=_EXECUTE_TIMEOUT_S)))

    return mcp


async def _open_then(provider: DatabaseProvider, fn: Any) -> dict[str, Any]:
    return await fn(await provider.open())
