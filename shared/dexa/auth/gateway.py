"""Each org's key at the API front door (API Gateway), kept beside the org so requests can be metered per org.

An API Gateway usage plan throttles and counts per *API key*, so one shared key means every org shares one daily
quota. Dexa gives each org its own gateway key, attached to the stack's usage plan. Clients never send it: the
API's request authorizer (dexa.adapters.aws.authorizer) maps the caller's Dexa key or browser cookie to the org's
gateway key, and API Gateway meters that. Local mode has no gateway: `NoGatewayKeys` issues nothing.

Layout: kv namespace `gateway_keys`, org scope, key `default` -> {id, value, usage_plan_id, created_at}.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any, Final, Protocol

from dexa.core.ports import KeyValueStore

GATEWAY_KEYS: Final = "gateway_keys"
DEFAULT: Final = "default"


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayKey:
    """An API Gateway API key: `id` names it in AWS, `value` is what API Gateway meters (usageIdentifierKey)."""

    id: str
    value: str
    usage_plan_id: str = ""
    created_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "value": self.value, "usage_plan_id": self.usage_plan_id, "created_at": self.created_at}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> GatewayKey:
        return GatewayKey(
            id=str(d["id"]),
            value=str(d["value"]),
            usage_plan_id=str(d.get("usage_plan_id", "")),
            created_at=float(d.get("created_at", 0.0)),
        )


class GatewayKeys(Protocol):
    """Issues the front-door key for an org (API Gateway in the cloud; nothing locally)."""

    async def issue(self, org_id: str, org_name: str) -> GatewayKey | None:
        """Create (or find, if a previous attempt got that far) the org's key, attached to the usage plan.

        Idempotent per org: a retry after a crash returns the same key, never a second one.
        """
        ...


class NoGatewayKeys:
    """Local mode and tests: there is no gateway in front of the API, so there is nothing to meter."""

    async def issue(self, org_id: str, org_name: str) -> GatewayKey | None:
        return None


async def save_gateway_key(store: KeyValueStore, org_id: str, key: GatewayKey) -> GatewayKey:
    """Keep the org's key (stamped with its creation time when it has none); returns what was stored."""
    stored = key if key.created_at else replace(key, created_at=time.time())
    await store.kv_put(GATEWAY_KEYS, DEFAULT, stored.to_dict(), org_id=org_id)
    return stored


async def load_gateway_key(store: KeyValueStore, org_id: str) -> GatewayKey | None:
    doc = await store.kv_get(GATEWAY_KEYS, DEFAULT, org_id=org_id)
    return None if doc is None else GatewayKey.from_dict(doc)
