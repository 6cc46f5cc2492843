"""The append-only audit log: kv namespace "audit", per org, keys that only grow.

Keys are `<ns timestamp, 20 digits>-<random>`: they sort by time, and put_if_absent means an entry is never
overwritten, even when two processes append in the same nanosecond.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dexa.auth.models import Principal
from dexa.core.ports import KeyValueStore

NAMESPACE = "audit"


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    id: str
    ts: float
    actor: str
    key_id: str
    action: str
    target: str
    detail: dict[str, Any] = field(default_factory=dict)


class AuditLog:
    def __init__(self, store: KeyValueStore) -> None:
        self.store = store
        self._last_ns = 0

    def _next_key(self) -> str:
        ns = max(time.time_ns(), self._last_ns + 1)
        self._last_ns = ns
        return f"{ns:020d}-{secrets.token_hex(4)}"

    async def append(
        self, who: Principal, action: str, target: str, detail: Mapping[str, Any] | None = None
    ) -> AuditEntry:
        while True:
            key = self._next_key()
            entry = AuditEntry(
                id=key,
                ts=time.time(),
                actor=who.user_id,
                key_id=who.key_id,
                action=action,
                target=target,
                detail=dict(detail or {}),
            )
            doc = {
                "id": entry.id,
                "ts": entry.ts,
                "actor": entry.actor,
                "key_id": entry.key_id,
                "action": entry.action,
                "target": entry.target,
                "detail": entry.detail,
            }
            if await self.store.kv_put_if_absent(NAMESPACE, key, doc, org_id=who.org_id):
                return entry

    async def list(self, org_id: str, *, after: str = "", limit: int = 100) -> list[AuditEntry]:
        docs = await self.store.kv_list(NAMESPACE, org_id=org_id)
        out: list[AuditEntry] = []
        for d in docs:
            if str(d["id"]) <= after:
                continue
            out.append(
                AuditEntry(
                    id=str(d["id"]),
                    ts=float(d["ts"]),
                    actor=str(d.get("actor", "")),
                    key_id=str(d.get("key_id", "")),
                    action=str(d["action"]),
                    target=str(d.get("target", "")),
                    detail=dict(d.get("detail") or {}),
                )
            )
            if len(out) >= limit:
                break
        return out
