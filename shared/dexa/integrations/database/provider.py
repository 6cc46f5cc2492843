"""A connected database integration as the managed server sees it: the connection string is read from the vault
at each call, inside the control plane, and never kept on an object that could be logged or serialised.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dexa.core.errors import ConfigError

from .base import Database, QueryLimits
from .connect import open_database

ROOTS_KEY = "database_roots"


class VaultDatabase:
    """Opens the integration's database from its vault entry (the registry is the only reader of secrets)."""

    def __init__(self, registry: Any, org_id: str, record: Mapping[str, Any], *, limits: QueryLimits | None = None):
        self._registry = registry
        self._org_id = org_id
        self._integration_id = str(record["id"])
        self.name = str(record["name"])
        self.limits = limits or QueryLimits()

    def __repr__(self) -> str:
        return f"VaultDatabase({self._org_id}/{self._integration_id})"

    async def open(self) -> Database:
        """Raises ConfigError when no connection string is stored; PermissionDeniedError for a SQLite file
        outside the allowed directories."""
        dsn = await self._registry.secret(self._org_id, self._integration_id, "connection_string")
        if not dsn:
            raise ConfigError(f"integration {self.name} has no connection string; add it again with one")
        doc = await self._registry.kv.kv_get("integration_settings", ROOTS_KEY, org_id=self._org_id) or {}
        return open_database(dsn, roots=[str(p) for p in doc.get("paths", [])])


async def set_sqlite_roots(registry: Any, org_id: str, paths: list[str]) -> None:
    """Org policy: directories whose SQLite files this org may connect (beside DEXA_SQLITE_ROOTS)."""
    await registry.kv.kv_put("integration_settings", ROOTS_KEY, {"paths": list(paths)}, org_id=org_id)
