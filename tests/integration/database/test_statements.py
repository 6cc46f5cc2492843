"""The statement scan: reads from writes (data-modifying CTEs included), one statement per call, and error
positions as line and column. Strings, quoted names and comments never count as SQL."""

from __future__ import annotations

import pytest

from dexa.core.errors import ToolInputError
from dexa.integrations.database.statements import error_position, has_returning, is_write, single_statement


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM t",
        "  -- a comment\n select 1",
        "WITH x AS (SELECT 1) SELECT * FROM x",
        "SELECT 'update me; delete' AS note",
        'SELECT "delete" FROM t',
        "EXPLAIN SELECT 1",
        "SHOW statement_timeout",
        "VALUES (1), (2)",
        "SELECT $$ DELETE FROM t; $$",
    ],
)
def test_reads_are_reads(sql: str) -> None:
    assert not is_write(sql)
    single_statement(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE t SET a = 1",
        "/* hi */ DELETE FROM t",
        "insert into t values (1)",
        "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
        "EXPLAIN ANALYZE DELETE FROM t",
        "CREATE TABLE t (a int)",
        "DROP TABLE t",
        "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE",
    ],
)
def test_writes_are_writes(sql: str) -> None:
    assert is_write(sql)


def test_one_statement_per_call() -> None:
    assert single_statement("SELECT 1;;  ") == "SELECT 1"
    with pytest.raises(ToolInputError, match="one SQL statement"):
        single_statement("SELECT 1; DROP TABLE t")
    with pytest.raises(ToolInputError, match="empty"):
        single_statement(" -- nothing\n ; ")


def test_returning_and_positions() -> None:
    assert has_returning("DELETE FROM t RETURNING id") and not has_returning("SELECT 'returning'")
    assert error_position("SELECT 1\nFROM x", 13) == " at position 13 (line 2, column 4)"
    assert error_position("SELECT 1", None) == ""
