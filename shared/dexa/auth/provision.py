"""Provisioning a hosted installation: the first org, its admin and key (`dexa cloud bootstrap`), and more orgs.

Every org gets, together: the org record, an admin user, a Dexa API key (shown once) and its front-door gateway key
(dexa.auth.gateway), so requests are metered per org from its first call.

Bootstrap is idempotent through one installation record (kv `installation`/`bootstrap`, no org scope). The record is
claimed with put-if-absent before anything is created and carries the ids it will use, so a run that died half
way is finished by the next run with the same ids (no second org, no second admin). Once it says `done`, a run
only reports what exists, unless a new admin is asked for explicitly.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, Final

from dexa.core.errors import ConflictError, NotFoundError

from .gateway import GatewayKey, GatewayKeys, load_gateway_key, save_gateway_key
from .models import ApiKey, Org, User
from .service import AuthService

INSTALLATION: Final = "installation"
BOOTSTRAP: Final = "bootstrap"


@dataclass(frozen=True, slots=True, kw_only=True)
class Provisioned:
    """What a new org (or a new admin) is handed once: the Dexa token is not stored anywhere."""

    org: Org
    user: User
    key: ApiKey
    token: str
    gateway_key: GatewayKey | None


@dataclass(frozen=True, slots=True, kw_only=True)
class BootstrapResult:
    created: bool
    org_id: str
    admin_id: str
    provisioned: Provisioned | None = None


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


async def _ensure_org(auth: AuthService, org_id: str, name: str) -> Org:
    try:
        return await auth.create_org(name, org_id=org_id)
    except ConflictError:  # created by an earlier, interrupted run
        return await auth.get_org(org_id)


async def _ensure_admin(auth: AuthService, org_id: str, user_id: str, name: str) -> User:
    try:
        return await auth.get_user(org_id, user_id)
    except NotFoundError:
        pass
    try:
        return await auth.create_user(org_id, name, "admin", user_id=user_id)
    except ConflictError:
        return await auth.get_user(org_id, user_id)


async def _ensure_gateway_key(auth: AuthService, gateway: GatewayKeys, org: Org) -> GatewayKey | None:
    existing = await load_gateway_key(auth.store, org.id)
    if existing is not None:
        return existing
    issued = await gateway.issue(org.id, org.name)
    return None if issued is None else await save_gateway_key(auth.store, org.id, issued)


async def provision_org(
    auth: AuthService,
    gateway: GatewayKeys,
    *,
    org_name: str,
    admin_name: str,
    org_id: str | None = None,
    admin_id: str | None = None,
    key_name: str = "admin",
) -> Provisioned:
    """Create (or complete) an org with its gateway key, an admin user and a fresh admin key.

    Raises:
        ConfigError: the gateway refused the key (e.g. the usage plan does not exist).
    """
    org = await _ensure_org(auth, org_id or _id("org"), org_name)
    gateway_key = await _ensure_gateway_key(auth, gateway, org)
    user = await _ensure_admin(auth, org.id, admin_id or _id("usr"), admin_name)
    key, token = await auth.create_key(org.id, user.id, key_name)
    return Provisioned(org=org, user=user, key=key, token=token, gateway_key=gateway_key)


async def bootstrap(
    auth: AuthService,
    gateway: GatewayKeys,
    *,
    org_name: str,
    admin_name: str,
    new_admin: bool = False,
) -> BootstrapResult:
    """The installation's first org, admin and key; a no-op report once done (unless `new_admin`)."""
    store = auth.store
    claim: dict[str, Any] = {
        "state": "creating",
        "org_id": _id("org"),
        "admin_id": _id("usr"),
        "org_name": org_name,
        "admin_name": admin_name,
        "started_at": time.time(),
    }
    if not await store.kv_put_if_absent(INSTALLATION, BOOTSTRAP, claim):
        found = await store.kv_get(INSTALLATION, BOOTSTRAP)
        if found is None:  # deleted between the two calls: an operator reset; take a fresh claim
            return await bootstrap(auth, gateway, org_name=org_name, admin_name=admin_name, new_admin=new_admin)
        claim = found
    org_id, admin_id = str(claim["org_id"]), str(claim["admin_id"])
    if claim["state"] == "done":
        if not new_admin:
            return BootstrapResult(created=False, org_id=org_id, admin_id=admin_id)
        org = await auth.get_org(org_id)
        extra = await provision_org(auth, gateway, org_name=org.name, admin_name=admin_name, org_id=org_id)
        return BootstrapResult(created=True, org_id=org_id, admin_id=extra.user.id, provisioned=extra)
    done = await provision_org(
        auth,
        gateway,
        org_name=str(claim["org_name"]),
        admin_name=str(claim["admin_name"]),
        org_id=org_id,
        admin_id=admin_id,
        key_name="bootstrap",
    )
    await store.kv_put(INSTALLATION, BOOTSTRAP, {**claim, "state": "done", "done_at": time.time()})
    return BootstrapResult(created=True, org_id=org_id, admin_id=admin_id, provisioned=done)
