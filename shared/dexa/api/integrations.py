"""The default IntegrationRegistry: integration documents in kv namespace "integrations", scoped by org.

It records what an org connected; it does not connect anything. The integrations module replaces it with a
registry that knows providers and can report live status.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any, Final

from dexa.core.errors import ConfigError, NotFoundError
from dexa.core.ports import KeyValueStore

from .ports import Integration, IntegrationStatus

NAMESPACE: Final = "integrations"
# Credentials belong in the vault: a config that carries one is refused rather than stored in plain documents.
_SECRET_KEY: Final = re.compile(r"(secret|password|passwd|token|api[_-]?key|private[_-]?key|credential)s?$", re.I)


def _secret_keys(value: Any, path: str = "config") -> list[str]:
    found: list[str] = []
    if isinstance(value, Mapping):
        for k, v in value.items():  # pyright: ignore[reportUnknownVariableType]
            name = str(k)  # pyright: ignore[reportUnknownArgumentType]
            if _SECRET_KEY.search(name) and v not in (None, ""):
                found.append(f"{path}.{name}")
            found.extend(_secret_keys(v, f"{path}.{name}"))
    elif isinstance(value, list):
        for i, v in enumerate(value):  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
            found.extend(_secret_keys(v, f"{path}[{i}]"))
    return found


class KvIntegrationRegistry:
    def __init__(self, store: KeyValueStore) -> None:
        self.store = store

    async def list(self, org_id: str) -> list[Integration]:
        docs = await self.store.kv_list(NAMESPACE, org_id=org_id)
        return sorted((Integration(**d) for d in docs), key=lambda i: i.created_at)

    async def create(self, org_id: str, *, kind: str, name: str, config: Mapping[str, Any], by: str) -> Integration:
        secrets = _secret_keys(dict(config))
        if secrets:
            raise ConfigError(
                f"{', '.join(secrets)}: credentials must not be stored in integration config; "
                "put them in the vault and pass a reference (e.g. credentials_ref)"
            )
        item = Integration(
            id=f"int_{uuid.uuid4().hex[:20]}",
            org_id=org_id,
            kind=kind,
            name=name,
            config=dict(config),
            created_at=time.time(),
            created_by=by,
        )
        await self.store.kv_put(NAMESPACE, item.id, asdict(item), org_id=org_id)
        return item

    async def _get(self, org_id: str, integration_id: str) -> Integration:
        doc = await self.store.kv_get(NAMESPACE, integration_id, org_id=org_id)
        if doc is None:
            raise NotFoundError(f"integration {integration_id} not found")
        return Integration(**doc)

    async def delete(self, org_id: str, integration_id: str) -> None:
        await self._get(org_id, integration_id)
        await self.store.kv_delete(NAMESPACE, integration_id, org_id=org_id)

    async def status(self, org_id: str, integration_id: str) -> IntegrationStatus:
        item = await self._get(org_id, integration_id)
        return IntegrationStatus(
            id=item.id,
            state="configured",
            detail=f"{item.kind} integration recorded; no live connection check is configured",
            checked_at=time.time(),
        )

    # The same record dexa.integrations.registry reads (its SETTINGS_NAMESPACE), so either side sees the list.
    async def mcp_allowlist(self, org_id: str) -> list[str]:
        doc = await self.store.kv_get("integration_settings", "allowlist", org_id=org_id) or {}
        return [str(p) for p in doc.get("patterns", [])]

    async def set_mcp_allowlist(self, org_id: str, patterns: list[str]) -> None:
        await self.store.kv_put("integration_settings", "allowlist", {"patterns": list(patterns)}, org_id=org_id)
