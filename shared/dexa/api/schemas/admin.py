"""Integrations, permission checks, audit, users and keys."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from dexa.api.ports import Integration, IntegrationStatus
from dexa.auth.models import ApiKey, Scope, User

from .common import Body, Mode


class IntegrationCreate(Body):
    kind: str = Field(
        pattern=r"^[a-z][a-z0-9_-]{0,39}$", description="calendar, email, crm, chat, tickets, mcp, git..."
    )
    name: str = Field(min_length=1, max_length=100)
    config: dict[str, Any] = Field(
        default_factory=dict, description="Non-secret settings; credentials live in the vault"
    )


class IntegrationPublic(BaseModel):
    id: str
    kind: str
    name: str
    config: dict[str, Any]
    created_at: float
    created_by: str

    @staticmethod
    def of(i: Integration) -> IntegrationPublic:
        return IntegrationPublic(
            id=i.id, kind=i.kind, name=i.name, config=i.config, created_at=i.created_at, created_by=i.created_by
        )


PolicyDecision = Literal["direct", "stage", "auto", "deny"]


class McpAllowlist(Body):
    """Where the org's custom MCP servers may be: a server is added only when its URL matches a pattern."""

    patterns: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(
        max_length=200, description='URL globs (fnmatch), e.g. "https://mcp.corp.example/*"; empty: none allowed'
    )


class ServerPolicyUpdate(Body):
    """A connected server's slice of the org output policy. A field left out is kept; null removes the rule, so the
    built-in default applies again (reads run, writes are staged)."""

    reads: PolicyDecision | None = Field(default=None, description="what the server's read calls get")
    writes: PolicyDecision | None = Field(default=None, description="what its other calls get")
    tools: dict[str, PolicyDecision | None] = Field(
        default_factory=dict, max_length=200, description="per tool of this server (beats reads and writes)"
    )


class ServerPolicyPublic(BaseModel):
    integration_id: str
    server: str
    reads: PolicyDecision | None
    writes: PolicyDecision | None
    tools: dict[str, PolicyDecision]


class IntegrationsPublic(BaseModel):
    data: list[IntegrationPublic]
    count: int


class IntegrationStatusPublic(BaseModel):
    id: str
    state: Literal["configured", "connected", "disconnected", "error"]
    detail: str
    checked_at: float
    last_sync: float | None = Field(default=None, description="When the integration last synced; null: never")

    @staticmethod
    def of(s: IntegrationStatus) -> IntegrationStatusPublic:
        return IntegrationStatusPublic(
            id=s.id, state=s.state, detail=s.detail, checked_at=s.checked_at, last_sync=s.last_sync
        )


class PermissionCheckCreate(Body):
    tool: str = Field(min_length=1, max_length=200)
    input: dict[str, Any] = Field(default_factory=dict)
    cwd: str | None = Field(default=None, min_length=1, max_length=4096)
    mode: Mode | None = None


class PermissionCheckPublic(BaseModel):
    behavior: Literal["allow", "ask", "deny"]
    rule: str | None
    source: str | None
    reason: str
    suggestions: list[str]


class AuditEntryPublic(BaseModel):
    id: str
    ts: float
    actor: str
    key_id: str
    action: str
    target: str
    detail: dict[str, Any]


class AuditPublic(BaseModel):
    data: list[AuditEntryPublic]
    count: int
    next_after: str | None = Field(description="Pass as ?after= for the next page")


class UserCreate(Body):
    name: str = Field(min_length=1, max_length=200)
    role: Literal["admin", "member", "reviewer"]


class UserPublic(BaseModel):
    id: str
    name: str
    role: Literal["admin", "member", "reviewer"]
    created_at: float
    disabled: bool

    @staticmethod
    def of(u: User) -> UserPublic:
        return UserPublic(id=u.id, name=u.name, role=u.role, created_at=u.created_at, disabled=u.disabled)


class UsersPublic(BaseModel):
    data: list[UserPublic]
    count: int


class KeyCreate(Body):
    user_id: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")
    name: str = Field(min_length=1, max_length=200)
    scopes: list[Scope] | None = Field(default=None, description="Narrow the key below its user's role")


class KeyPublic(BaseModel):
    id: str
    user_id: str
    name: str
    prefix: str
    scopes: list[str]
    created_at: float
    revoked_at: float | None
    kind: str = Field(default="api", description="`api`, or `browser` for a web sign-in session (expires)")
    expires_at: float | None = None

    @staticmethod
    def of(k: ApiKey) -> KeyPublic:
        return KeyPublic(
            id=k.id,
            user_id=k.user_id,
            name=k.name,
            prefix=k.prefix,
            scopes=list(k.scopes),
            created_at=k.created_at,
            revoked_at=k.revoked_at,
            kind=k.kind,
            expires_at=k.expires_at,
        )


class KeyCreated(KeyPublic):
    token: str = Field(description="Shown once; only its hash is stored")


class KeysPublic(BaseModel):
    data: list[KeyPublic]
    count: int
