"""The database port the managed server talks to, its limits, and how results are capped for the model."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True, kw_only=True)
class QueryLimits:
    """Caps on what one call may cost: the database's time, and the model's context."""

    max_rows: int = 200
    max_bytes: int = 64_000
    timeout_s: float = 15.0


class Database(Protocol):
    """One connected database. Every method opens its own connection and leaves nothing open."""

    engine: str

    async def schema(self, *, table: str | None = None) -> dict[str, Any]:
        """Tables with columns, types, keys and row estimates (one table when `table` is given)."""
        ...

    async def query(self, sql: str, limits: QueryLimits) -> dict[str, Any]:
        """Run one read-only statement in a read-only transaction, capped by `limits`."""
        ...

    async def preview(self, sql: str, limits: QueryLimits) -> dict[str, Any]:
        """Dry-run one write in a transaction that is rolled back: the rows it would change and their count."""
        ...

    async def execute(self, sql: str, *, timeout_s: float) -> dict[str, Any]:
        """Run one approved write and commit it: {statement, rowcount}."""
        ...


def jsonable(value: Any) -> Any:
    """A cell as the model sees it: JSON scalars stay, everything else (dates, decimals, bytes) becomes text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(bytes(value))} bytes>"
    if isinstance(value, dict | list):
        return json.loads(json.dumps(value, default=str))
    return str(value)


class RowCollector:
    """Keeps rows until the row or byte cap is reached, and says which cap stopped it."""

    def __init__(self, limits: QueryLimits) -> None:
        self.limits = limits
        self.rows: list[list[Any]] = []
        self.bytes = 0
        self.truncated = ""

    def add(self, row: Any) -> bool:
        """False once a cap is reached (the row is then dropped)."""
        if len(self.rows) >= self.limits.max_rows:
            self.truncated = f"more than {self.limits.max_rows} rows; showing the first {self.limits.max_rows}"
            return False
        cells = [jsonable(v) for v in row]
        size = len(json.dumps(cells, default=str))
        if self.bytes + size > self.limits.max_bytes:
            self.truncated = f"result over {self.limits.max_bytes} bytes; showing {len(self.rows)} rows"
            return False
        self.rows.append(cells)
        self.bytes += size
        return True

    def result(self, columns: list[str], **extra: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"columns": columns, "rows": self.rows, "row_count": len(self.rows), **extra}
        if self.truncated:
            out["truncated"] = self.truncated
        return out
