"""What one SQL statement is: a read the query tool may run, or a write that must be staged.

The database's read-only transaction is the real boundary; this scan only gives the agent an early, clear
pointer to the staging tool and refuses batches, so a reviewer always approves exactly one statement.
"""

from __future__ import annotations

import re

from dexa.core.errors import ToolInputError

READ_VERBS = frozenset({"select", "with", "values", "table", "show", "explain"})
WRITE_VERBS = frozenset({"insert", "update", "delete", "merge", "replace", "upsert"})
_DOLLAR = re.compile(r"\$[A-Za-z_]*\$")
_WORD = re.compile(r"[A-Za-z_]+")


def _skip(sql: str, i: int) -> int:
    """Index after the string, identifier, comment or dollar-quoted body starting at i (or i when none)."""
    c = sql[i]
    if c in "'\"`":
        j = i + 1
        while j < len(sql):
            if sql[j] == c:
                if j + 1 < len(sql) and sql[j + 1] == c:  # doubled quote escapes itself
                    j += 2
                    continue
                return j + 1
            j += 1
        return len(sql)
    if sql.startswith("--", i):
        end = sql.find("\n", i)
        return len(sql) if end < 0 else end + 1
    if sql.startswith("/*", i):
        end = sql.find("*/", i + 2)
        return len(sql) if end < 0 else end + 2
    if c == "$":
        m = _DOLLAR.match(sql, i)
        if m:
            end = sql.find(m.group(), m.end())
            return len(sql) if end < 0 else end + len(m.group())
    return i


def code_only(sql: str) -> str:
    """The statement with strings, quoted identifiers and comments blanked, so keywords can be found safely."""
    out: list[str] = []
    i = 0
    while i < len(sql):
        j = _skip(sql, i)
        if j > i:
            out.append(" ")
            i = j
        else:
            out.append(sql[i])
            i += 1
    return "".join(out)


def single_statement(sql: str) -> str:
    """The one statement in `sql`, without trailing semicolons.

    Raises:
        ToolInputError: empty, or more than one statement.
    """
    text = sql.strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    code = code_only(text)
    if not code.strip():
        raise ToolInputError("the SQL is empty")
    if ";" in code:
        raise ToolInputError("send one SQL statement per call (found ';' between statements)")
    return text


def verb(sql: str) -> str:
    """The statement's first keyword, lower-cased ('' when there is none)."""
    m = _WORD.search(code_only(sql))
    return m.group().lower() if m else ""


def words(sql: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(code_only(sql))}


def is_write(sql: str) -> bool:
    """True for statements that change data or schema; data-modifying CTEs count (WITH ... DELETE ...)."""
    first = verb(sql)
    if first == "with":
        return bool(words(sql) & {"insert", "update", "delete", "merge"})
    if first == "explain":
        # EXPLAIN ANALYZE runs the statement it explains.
        found = words(sql)
        return "analyze" in found and bool(found & {"insert", "update", "delete", "merge"})
    return first not in READ_VERBS


def has_returning(sql: str) -> bool:
    return "returning" in words(sql)


def error_position(sql: str, position: int | None) -> str:
    """' at position N (line L, column C)' for a 1-based character position, or ''."""
    if not position or position < 1:
        return ""
    before = sql[: position - 1]
    line = before.count("\n") + 1
    column = position - (before.rfind("\n") + 1)
    return f" at position {position} (line {line}, column {column})"
