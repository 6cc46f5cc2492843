"""The SQLite integration: the same tools over a server-side file, read through a `mode=ro` connection with a
progress-handler timeout, writes staged with a rolled-back dry run, and files only where policy allows."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from db_kit import ORG, Org, sqlite_database, wire_org

from dexa.adapters.sqlite import SqliteStore
from dexa.core.errors import ConfigError, ConflictError, PermissionDeniedError
from dexa.integrations.database.base import QueryLimits
from dexa.integrations.database.connect import ROOTS_ENV, open_database
from dexa.integrations.database.sqlite import SqliteDatabase
from dexa.integrations.vault import FileVault

pytestmark = pytest.mark.anyio


@pytest.fixture
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    allowed = tmp_path / "data"
    allowed.mkdir()
    monkeypatch.setenv(ROOTS_ENV, str(allowed))
    return sqlite_database(allowed / "shop.db")


@pytest.fixture
async def org(tmp_path: Path, store: SqliteStore, vault: FileVault, db_path: Path) -> AsyncIterator[Org]:
    org, _ = await wire_org(tmp_path, store, vault, provider="sqlite", connection_string=f"sqlite:///{db_path}")
    yield org
    await org.aclose()


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


async def test_schema_lists_tables_columns_keys_and_counts(org: Org) -> None:
    schema = await org.ok("describe_schema", {})
    tables = {t["name"]: t for t in schema["tables"]}
    assert schema["engine"] == "sqlite" and set(tables) == {"customers", "orders"}
    assert tables["orders"]["primary_key"] == ["id"]
    assert tables["orders"]["foreign_keys"] == [{"column": "customer_id", "references": "customers(id)"}]
    assert tables["customers"]["row_estimate"] == 3


async def test_query_is_capped_and_times_out(org: Org, db_path: Path) -> None:
    got = await org.ok("query", {"sql": "SELECT name FROM customers WHERE plan = 'free' ORDER BY id"})
    assert got["rows"] == [["Bo Chen"], ["Cy Okafor"]]
    endless = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n)"
    capped = await org.ok("query", {"sql": f"{endless} SELECT x FROM n", "max_rows": 3})
    assert capped["rows"] == [[1], [2], [3]] and "more than 3 rows" in capped["truncated"]
    slow = SqliteDatabase(db_path)
    with pytest.raises(Exception, match=r"timed out after 0\.3s"):
        await slow.query(f"{endless} SELECT count(*) FROM n", QueryLimits(timeout_s=0.3))


async def test_reads_cannot_write(org: Org, db_path: Path) -> None:
    out = await org.call("query", {"sql": "DELETE FROM orders"})
    assert out.is_error and "execute_sql" in out.content
    # Past the scan, the read-only connection itself refuses.
    with pytest.raises(PermissionDeniedError, match="readonly"):
        SqliteDatabase(db_path)._query("DELETE FROM orders", QueryLimits())
    assert rows(db_path, "SELECT count(*) FROM orders") == [(3,)]


async def test_a_syntax_error_names_its_position(org: Org) -> None:
    out = await org.call("query", {"sql": "SELECT id\nFORM customers"})
    assert out.is_error and 'near "customers": syntax error' in out.content
    assert "(line 2, column 6)" in out.content


async def test_a_staged_update_previews_rows_and_runs_once_after_approval(org: Org, db_path: Path) -> None:
    sql = "UPDATE orders SET status = 'void' WHERE status = 'open'"
    out = await org.call("execute_sql", {"sql": sql})
    assert not out.is_error and "Staged as" in out.content
    staged = await org.integrations.queue.get(ORG, out.data["output_id"])
    assert "Dry run (rolled back): 2 row(s) would change" in staged.preview
    assert "id=11" in staged.preview and "id=12" in staged.preview and "status='void'" in staged.preview
    assert rows(db_path, "SELECT status FROM orders ORDER BY id") == [("paid",), ("open",), ("open",)]
    done = await org.integrations.queue.approve(ORG, staged.id, by="reviewer")
    assert done["status"] == "executed" and done["result"]["structured"]["rowcount"] == 2
    assert rows(db_path, "SELECT status FROM orders ORDER BY id") == [("paid",), ("void",), ("void",)]
    with pytest.raises(ConflictError):
        await org.integrations.queue.approve(ORG, staged.id, by="reviewer")
    (entry,) = await org.integrations.queue.ledger(ORG)
    assert entry["arguments"] == {"sql": sql} and entry["result"]["rowcount"] == 2


async def test_files_outside_the_allowed_directories_are_refused(tmp_path: Path, db_path: Path) -> None:
    elsewhere = sqlite_database(tmp_path / "other.db")
    with pytest.raises(PermissionDeniedError, match="outside the directories allowed"):
        open_database(f"sqlite:///{elsewhere}")
    link = db_path.parent / "link.db"
    link.symlink_to(elsewhere)
    with pytest.raises(PermissionDeniedError):
        open_database(f"sqlite:///{link}")  # a symlink is judged by where it points
    with pytest.raises(ConfigError, match="absolute path"):
        open_database("sqlite:///shop.db".replace("///", "//"))
    with pytest.raises(ConfigError, match="no SQLite database file"):
        open_database(f"sqlite:///{db_path.parent / 'missing.db'}")


async def test_no_allowed_directory_means_no_sqlite(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ROOTS_ENV)
    with pytest.raises(PermissionDeniedError, match="an admin must allow one"):
        open_database(f"sqlite:///{db_path}")
    assert isinstance(open_database(f"sqlite:///{db_path}", roots=[str(db_path.parent)]), SqliteDatabase)


async def test_a_wrong_kind_of_connection_string_is_refused_when_added(store: SqliteStore, vault: FileVault) -> None:
    from dexa.integrations.session_tools import build_integrations

    registry = build_integrations(store, vault).registry
    with pytest.raises(ConfigError, match="needs a postgres connection string, not a sqlite one"):
        await registry.add(ORG, {"provider": "postgres", "connection_string": "sqlite:///tmp/x.db"})
    with pytest.raises(ConfigError, match=r"must start with postgresql://") as info:
        await registry.add(ORG, {"provider": "postgres", "connection_string": "host=db password=hunter2"})
    assert "hunter2" not in str(info.value)
    assert await registry.list(ORG) == []
