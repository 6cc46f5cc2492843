"""Orgs, users and API keys kept as key-value documents in the runtime's store.

Layout (namespace, org scope, key):
    orgs           ""      org id          -> Org
    users          org     user id         -> User
    api_keys       org     key id          -> ApiKey (digest only)
    api_key_index  ""      token prefix    -> {org_id, key_id}   (lets a bare token find its org)
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import replace

from dexa.core.errors import ConfigError, ConflictError, NotFoundError, PermissionDeniedError
from dexa.core.ports import KeyValueStore

from . import keys
from .models import ROLE_SCOPES, ROLES, ApiKey, Org, Principal, Role, User

logger = logging.getLogger(__name__)

ORGS = "orgs"
USERS = "users"
API_KEYS = "api_keys"
KEY_INDEX = "api_key_index"


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


def unauthenticated(message: str = "missing, malformed, revoked or unknown API key") -> PermissionDeniedError:
    return PermissionDeniedError(message, code="unauthenticated")


class AuthService:
    def __init__(self, store: KeyValueStore) -> None:
        self.store = store

    # ------------------------------------------------------------ orgs and users

    async def create_org(self, name: str, *, org_id: str | None = None) -> Org:
        org = Org(id=org_id or _id("org"), name=name, created_at=time.time())
        if not await self.store.kv_put_if_absent(ORGS, org.id, org.to_dict()):
            raise ConflictError(f"org {org.id} already exists")
        return org

    async def get_org(self, org_id: str) -> Org:
        doc = await self.store.kv_get(ORGS, org_id)
        if doc is None:
            raise NotFoundError(f"org {org_id} not found")
        return Org.from_dict(doc)

    async def create_user(self, org_id: str, name: str, role: str, *, user_id: str | None = None) -> User:
        if role not in ROLES:
            raise ConfigError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        await self.get_org(org_id)
        user = User(
            id=user_id or _id("usr"),
            org_id=org_id,
            name=name,
            role=role,  # type: ignore[arg-type]
            created_at=time.time(),
        )
        if not await self.store.kv_put_if_absent(USERS, user.id, user.to_dict(), org_id=org_id):
            raise ConflictError(f"user {user.id} already exists")
        return user

    async def get_user(self, org_id: str, user_id: str) -> User:
        doc = await self.store.kv_get(USERS, user_id, org_id=org_id)
        if doc is None:
            raise NotFoundError(f"user {user_id} not found")
        return User.from_dict(doc)

    async def list_users(self, org_id: str) -> list[User]:
        return [User.from_dict(d) for d in await self.store.kv_list(USERS, org_id=org_id)]

    # ------------------------------------------------------------ keys

    async def create_key(
        self,
        org_id: str,
        user_id: str,
        name: str,
        scopes: Iterable[str] | None = None,
        *,
        kind: str = "api",
        expires_at: float | None = None,
    ) -> tuple[ApiKey, str]:
        """Mint a key for a user; returns (record, token). The token is never stored or shown again.

        Raises:
            NotFoundError: the user is not in this org.
            ConfigError: a requested scope exceeds what the user's role allows.
        """
        user = await self.get_user(org_id, user_id)
        allowed = ROLE_SCOPES[user.role]
        wanted = tuple(sorted(allowed if scopes is None else set(scopes)))
        extra = sorted(set(wanted) - allowed)
        if extra:
            raise ConfigError(
                f"scopes {', '.join(extra)} exceed role {user.role!r} (allowed: {', '.join(sorted(allowed))})"
            )
        token, prefix = keys.new_token()
        key = ApiKey(
            id=f"key_{prefix}",
            org_id=org_id,
            user_id=user_id,
            name=name,
            prefix=prefix,
            hash=keys.digest(token),
            scopes=wanted,
            created_at=time.time(),
            kind=kind,
            expires_at=expires_at,
        )
        await self.store.kv_put(API_KEYS, key.id, key.to_dict(), org_id=org_id)
        if not await self.store.kv_put_if_absent(KEY_INDEX, prefix, {"org_id": org_id, "key_id": key.id}):
            raise ConflictError("key prefix collision; retry")
        return key, token

    async def list_keys(self, org_id: str) -> list[ApiKey]:
        return [ApiKey.from_dict(d) for d in await self.store.kv_list(API_KEYS, org_id=org_id)]

    async def get_key(self, org_id: str, key_id: str) -> ApiKey:
        doc = await self.store.kv_get(API_KEYS, key_id, org_id=org_id)
        if doc is None:
            raise NotFoundError(f"key {key_id} not found")
        return ApiKey.from_dict(doc)

    async def revoke_key(self, org_id: str, key_id: str) -> ApiKey:
        """Revoke (idempotent). Revocation is immediate: nothing caches a resolved key."""
        key = await self.get_key(org_id, key_id)
        if key.revoked:
            return key
        key = replace(key, revoked_at=time.time())
        await self.store.kv_put(API_KEYS, key.id, key.to_dict(), org_id=org_id)
        return key

    async def authenticate(self, token: str) -> Principal:
        """Resolve a bearer token. Raises PermissionDeniedError(code="unauthenticated") on any failure."""
        prefix = keys.parse_prefix(token)
        if prefix is None:
            raise unauthenticated()
        index = await self.store.kv_get(KEY_INDEX, prefix)
        if index is None:
            raise unauthenticated()
        doc = await self.store.kv_get(API_KEYS, str(index["key_id"]), org_id=str(index["org_id"]))
        if doc is None:
            raise unauthenticated()
        key = ApiKey.from_dict(doc)
        if key.revoked or key.expired(time.time()) or not keys.matches(token, key.hash):
            raise unauthenticated()
        try:
            user = await self.get_user(key.org_id, key.user_id)
        except NotFoundError:
            raise unauthenticated() from None
        if user.disabled:
            raise unauthenticated("user is disabled")
        role: Role = user.role
        # A key never grants more than its user's current role, even if the role was lowered after minting.
        scopes = frozenset(key.scopes) & ROLE_SCOPES[role]
        return Principal(org_id=key.org_id, user_id=user.id, role=role, key_id=key.id, scopes=scopes)
