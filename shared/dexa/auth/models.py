"""Organisations, users, API keys and the caller they resolve to, plus the role -> scope table."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

Role = Literal["admin", "member", "reviewer"]
ROLES: Final[tuple[str, ...]] = ("admin", "member", "reviewer")

Scope = Literal[
    "sessions:read",
    "sessions:write",
    "approvals:write",
    "outputs:write",
    "integrations:read",
    "integrations:write",
    "permissions:check",
    "audit:read",
    "keys:write",
]
SCOPES: Final[tuple[str, ...]] = (
    "sessions:read",
    "sessions:write",
    "approvals:write",
    "outputs:write",
    "integrations:read",
    "integrations:write",
    "permissions:check",
    "audit:read",
    "keys:write",
)

_REVIEWER: Final = frozenset({"sessions:read", "approvals:write", "outputs:write", "integrations:read"})
_MEMBER: Final = _REVIEWER | {"sessions:write", "permissions:check"}
ROLE_SCOPES: Final[dict[str, frozenset[str]]] = {
    "reviewer": _REVIEWER,
    "member": _MEMBER,
    "admin": frozenset(SCOPES),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Org:
    id: str
    name: str
    created_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "created_at": self.created_at}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Org:
        return Org(id=str(d["id"]), name=str(d.get("name", "")), created_at=float(d.get("created_at", 0.0)))


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    id: str
    org_id: str
    name: str
    role: Role
    created_at: float = 0.0
    disabled: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "org_id": self.org_id,
            "name": self.name,
            "role": self.role,
            "created_at": self.created_at,
            "disabled": self.disabled,
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> User:
        return User(
            id=str(d["id"]),
            org_id=str(d["org_id"]),
            name=str(d.get("name", "")),
            role=d["role"],
            created_at=float(d.get("created_at", 0.0)),
            disabled=bool(d.get("disabled", False)),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKey:
    """A stored key: only the hash of the secret is kept; `prefix` finds the record without it."""

    id: str
    org_id: str
    user_id: str
    name: str
    prefix: str
    hash: str
    scopes: tuple[str, ...] = ()
    created_at: float = 0.0
    revoked_at: float | None = None
    # "api" keys live until revoked; "browser" keys are sign-in sessions (dexa.auth.browser) that expire.
    kind: str = "api"
    expires_at: float | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "org_id": self.org_id,
            "user_id": self.user_id,
            "name": self.name,
            "prefix": self.prefix,
            "hash": self.hash,
            "scopes": list(self.scopes),
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
            "kind": self.kind,
            "expires_at": self.expires_at,
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> ApiKey:
        revoked = d.get("revoked_at")
        expires = d.get("expires_at")
        return ApiKey(
            id=str(d["id"]),
            org_id=str(d["org_id"]),
            user_id=str(d["user_id"]),
            name=str(d.get("name", "")),
            prefix=str(d["prefix"]),
            hash=str(d["hash"]),
            scopes=tuple(d.get("scopes") or ()),
            created_at=float(d.get("created_at", 0.0)),
            revoked_at=None if revoked is None else float(revoked),
            kind=str(d.get("kind") or "api"),
            expires_at=None if expires is None else float(expires),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """Who is calling: every API route is scoped to `org_id` and gated on `scopes`."""

    org_id: str
    user_id: str
    role: Role
    key_id: str = ""
    scopes: frozenset[str] = field(default_factory=frozenset)

    def can(self, scope: str) -> bool:
        return scope in self.scopes
