"""The Postgres integration against a real server: introspection, capped read-only SQL, staged writes that run
exactly once after approval, and errors that name their cause without leaking the password."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from db_kit import ORG, PASSWORD, Org, Postgres, pg_database, pg_exec, pg_rows, wire_org

from dexa.adapters.sqlite import SqliteStore
from dexa.core.errors import ConflictError
from dexa.integrations.vault import FileVault

pytestmark = pytest.mark.anyio


@pytest.fixture
def db_url(postgres: Postgres) -> str:
    return pg_database(postgres.url())


@pytest.fixture
async def org(tmp_path: Path, store: SqliteStore, vault: FileVault, db_url: str) -> AsyncIterator[Org]:
    org, _ = await wire_org(tmp_path, store, vault, provider="postgres", connection_string=db_url)
    yield org
    await org.aclose()


async def test_connected_postgres_gives_the_agent_schema_query_and_staging_tools(org: Org) -> None:
    names = set(org.registry.names())
    assert {f"mcp__database__{t}" for t in ("describe_schema", "query", "preview_sql", "execute_sql")} <= names


async def test_schema_lists_tables_columns_keys_and_row_estimates(org: Org) -> None:
    schema = await org.ok("describe_schema", {})
    tables = {t["name"]: t for t in schema["tables"]}
    assert set(tables) == {"customers", "orders"}
    orders = tables["orders"]
    assert [c["name"] for c in orders["columns"]] == ["id", "customer_id", "amount", "status"]
    assert orders["columns"][2]["type"] == "numeric"
    assert "PRIMARY KEY (id)" in orders["primary_key"][0]["definition"]
    assert "REFERENCES customers(id)" in orders["foreign_keys"][0]["definition"]
    assert tables["customers"]["row_estimate"] == 3
    assert tables["customers"]["unique"][0]["definition"] == "UNIQUE (email)"
    one = await org.ok("describe_schema", {"table": "public.customers"})
    assert [t["name"] for t in one["tables"]] == ["customers"]
    missing = await org.call("describe_schema", {"table": "nope"})
    assert missing.is_error and "no table or view named 'nope'" in missing.content


async def test_query_returns_rows_capped_in_rows_and_bytes(org: Org) -> None:
    got = await org.ok("query", {"sql": "SELECT id, name, plan FROM customers ORDER BY id"})
    assert got["columns"] == ["id", "name", "plan"]
    assert got["rows"] == [[1, "Ana Silva", "pro"], [2, "Bo Chen", "free"], [3, "Cy Okafor", "free"]]
    capped = await org.ok("query", {"sql": "SELECT g FROM generate_series(1, 100000) g", "max_rows": 5})
    assert capped["rows"] == [[1], [2], [3], [4], [5]] and "more than 5 rows" in capped["truncated"]
    wide = await org.ok("query", {"sql": "SELECT repeat('x', 10000) FROM generate_series(1, 50)"})
    assert wide["row_count"] < 50 and "bytes" in wide["truncated"]
    assert len(json.dumps(wide["rows"])) <= 64_000


async def test_a_slow_query_is_cancelled_by_the_statement_timeout(org: Org) -> None:
    provider = (await org.integrations.managed.providers(ORG))["database"][1]
    provider.limits = type(provider.limits)(timeout_s=0.5)
    out = await org.call("query", {"sql": "SELECT pg_sleep(5)"})
    assert out.is_error
    assert "timed out after 0.5s (statement_timeout)" in out.content


async def test_the_read_tool_refuses_writes_and_points_to_staging(org: Org, db_url: str) -> None:
    out = await org.call("query", {"sql": "UPDATE customers SET plan = 'pro'"})
    assert out.is_error and "read-only" in out.content and "execute_sql" in out.content
    # What the scan cannot see, the READ ONLY transaction still refuses.
    hidden = await org.call("query", {"sql": "SELECT nextval('invoice_no')"})
    assert hidden.is_error
    assert "cannot execute nextval() in a read-only transaction" in hidden.content
    assert "execute_sql" in hidden.content
    via_cte = await org.call("query", {"sql": "WITH d AS (DELETE FROM orders RETURNING id) SELECT count(*) FROM d"})
    assert via_cte.is_error and "execute_sql" in via_cte.content
    batch = await org.call("query", {"sql": "SELECT 1; DELETE FROM orders"})
    assert batch.is_error and "one SQL statement" in batch.content
    assert pg_rows(db_url, "SELECT count(*) FROM orders") == [(3,)]
    assert pg_rows(db_url, "SELECT plan FROM customers ORDER BY id") == [("pro",), ("free",), ("free",)]


async def test_a_syntax_error_names_its_position(org: Org) -> None:
    out = await org.call("query", {"sql": "SELECT id,\n  name FRM customers"})
    assert out.is_error
    assert 'syntax error at or near "customers"' in out.content
    assert "position 23 (line 2, column 12)" in out.content


async def test_a_staged_update_previews_its_rows_and_changes_nothing_until_approved(org: Org, db_url: str) -> None:
    sql = "UPDATE customers SET plan = 'pro' WHERE plan = 'free'"
    out = await org.call("execute_sql", {"sql": sql})
    assert not out.is_error, out.content
    assert "Staged as out_" in out.content and "NOT been sent or applied" in out.content
    output_id = out.data["output_id"]
    staged = await org.integrations.queue.get(ORG, output_id)
    assert staged.kind == "sql_change" and staged.status == "pending"
    assert staged.preview.startswith(sql)
    assert "Dry run (rolled back): 2 row(s) would change" in staged.preview
    assert "name='Bo Chen'" in staged.preview and "plan='pro'" in staged.preview
    assert "Ana Silva" not in staged.preview
    assert pg_rows(db_url, "SELECT plan FROM customers ORDER BY id") == [("pro",), ("free",), ("free",)]

    done = await org.integrations.queue.approve(ORG, output_id, by="reviewer")
    assert done["status"] == "executed", done.get("error")
    assert done["result"]["structured"]["rowcount"] == 2
    assert pg_rows(db_url, "SELECT plan FROM customers ORDER BY id") == [("pro",), ("pro",), ("pro",)]
    with pytest.raises(ConflictError, match=r"already (approved|executed)"):
        await org.integrations.queue.approve(ORG, output_id, by="someone-else")
    (entry,) = await org.integrations.queue.ledger(ORG)
    assert entry["arguments"] == {"sql": sql} and entry["result"]["rowcount"] == 2
    assert entry["kind"] == "sql_change" and entry["approved_by"] == "reviewer"
    types = [t for _, t, _ in org.events]
    assert types.count("output.executed") == 1


async def test_the_agent_cannot_run_a_write_even_if_the_gate_let_it_through(org: Org, db_url: str) -> None:
    from mcp import Client

    providers = await org.integrations.managed.providers(ORG)
    kind, provider = providers["database"]
    server = org.integrations.managed.server(ORG, "database", kind, provider, "agent")
    async with Client(server) as client:
        result = await client.call_tool("execute_sql", {"sql": "DELETE FROM orders"})
    assert result.is_error
    assert pg_rows(db_url, "SELECT count(*) FROM orders") == [(3,)]


async def test_a_rejected_change_never_runs_and_a_failing_one_is_recorded(org: Org, db_url: str) -> None:
    out = await org.call("execute_sql", {"sql": "DELETE FROM orders WHERE status = 'open'"})
    rejected = await org.integrations.queue.reject(ORG, out.data["output_id"], by="reviewer", reason="no")
    assert rejected["status"] == "rejected"
    assert pg_rows(db_url, "SELECT count(*) FROM orders") == [(3,)]
    # A change that cannot run is not staged: the agent hears why at once.
    bad = await org.call("execute_sql", {"sql": "DELETE FROM customers WHERE id = 1"})
    assert bad.is_error and "not staged: its dry run failed" in bad.content and "foreign key" in bad.content
    typo = await org.call("execute_sql", {"sql": "UPDATE orders SET statuz = 'x'"})
    assert typo.is_error and 'column "statuz" of relation "orders" does not exist' in typo.content
    assert [o["status"] for o in await org.integrations.queue.list(ORG)] == ["rejected"]
    # One that stops being valid between staging and approval fails cleanly and is recorded as failed.
    ok = await org.call("execute_sql", {"sql": "UPDATE orders SET amount = amount * 2 WHERE id = 10"})
    staged = await org.integrations.queue.get(ORG, ok.data["output_id"])
    assert "amount='241.00'" in staged.preview
    pg_exec(db_url, "ALTER TABLE orders ADD CONSTRAINT small CHECK (amount < 200)")
    done = await org.integrations.queue.approve(ORG, staged.id, by="reviewer")
    assert done["status"] == "failed" and 'check constraint "small"' in done["error"]
    assert pg_rows(db_url, "SELECT amount FROM orders WHERE id = 10") == [(Decimal("120.50"),)]
    # The ledger records both decisions; nothing in it says executed.
    ledger = await org.integrations.queue.ledger(ORG)
    assert sorted(e["status"] for e in ledger) == ["failed", "rejected"]
    assert all(e["status"] != "executed" for e in ledger)


async def test_connection_failures_name_host_and_port_never_the_password(
    tmp_path: Path, store: SqliteStore, vault: FileVault, postgres: Postgres
) -> None:
    wrong = postgres.url(password="not-the-Pa55word")
    org, _ = await wire_org(tmp_path, store, vault, provider="postgres", connection_string=wrong)
    try:
        out = await org.call("query", {"sql": "SELECT 1"})
    finally:
        await org.aclose()
    assert out.is_error
    assert f"cannot connect to Postgres at 127.0.0.1:{postgres.port}/postgres as dexa_owner" in out.content
    assert "password authentication failed" in out.content
    assert "not-the-Pa55word" not in out.content

    from dexa.integrations.database.base import QueryLimits
    from dexa.integrations.database.postgres import PostgresDatabase

    closed = PostgresDatabase(postgres.url(port=1))
    with pytest.raises(Exception, match=r"127\.0\.0\.1:1/postgres .*refused") as info:
        await closed.query("SELECT 1", QueryLimits())
    assert PASSWORD not in str(info.value) and PASSWORD not in repr(closed)


async def test_the_connection_string_never_reaches_events_records_or_messages(
    org: Org, store: SqliteStore, db_url: str, tmp_path: Path
) -> None:
    await org.ok("describe_schema", {})
    await org.call("query", {"sql": "SELEC 1"})
    out = await org.call("execute_sql", {"sql": "UPDATE orders SET status = 'paid'"})
    await org.integrations.queue.approve(ORG, out.data["output_id"], by="reviewer")
    records = await org.integrations.registry.list(ORG)
    status = await org.integrations.registry.status(ORG, records[0]["id"])
    outputs = await org.integrations.queue.list(ORG)
    ledger = await org.integrations.queue.ledger(ORG)
    visible = json.dumps([org.events, records, status, outputs, ledger], default=str)
    assert PASSWORD not in visible and db_url not in visible
    assert PASSWORD.encode() not in (tmp_path / "dexa.db").read_bytes()
    assert PASSWORD.encode() not in (tmp_path / "vault.bin").read_bytes()  # encrypted at rest
    assert await org.integrations.registry.secret(ORG, records[0]["id"], "connection_string") == db_url
