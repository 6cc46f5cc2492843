"""What the API needs from the rest of Dexa. Other modules implement these; the routers stay thin over them.

ApiRuntime          dexa.wiring.Runtime satisfies it (store, engine, driver, create_session)
Driver              dexa.core.driver.InProcessDriver locally; a Step Functions starter in the cloud
Rewinder            checkpoints (another module); absent -> 501
OutputQueue         staged outputs; dexa.api.outputs.KvOutputQueue is the default
IntegrationRegistry dexa.api.integrations.KvIntegrationRegistry is the default
PermissionChecker   the permission engine's "test a tool call"; absent -> 501
OAuthConnector      OAuth sign-in for integrations (the real registry); absent -> 501
SignedLinks         signed approval links (dexa.integrations.outputs.links.ApprovalLinks); absent -> 501
config_home         (a path, not a protocol) the home whose ~/.claude the settings routes read; absent -> 501
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from dexa.core.engine import TurnEngine
from dexa.core.ports import PermissionDecision, Store
from dexa.core.session import Session, SessionConfig

RewindMode = Literal["conversation", "code", "both"]
OnConflict = Literal["ask", "overwrite", "keep_copy"]
OutputStatus = Literal["pending", "approved", "rejected", "executed", "failed"]
IntegrationState = Literal["configured", "connected", "disconnected", "error"]


class Driver(Protocol):
    def start(self, session_id: str) -> object:
        """Drive the session's current turn in the background; idempotent while one is running."""
        ...

    async def cancel(self, session_id: str) -> None: ...

    def is_running(self, session_id: str) -> bool: ...


class ApiRuntime(Protocol):
    @property
    def store(self) -> Store: ...

    @property
    def engine(self) -> TurnEngine: ...

    @property
    def driver(self) -> Driver: ...

    async def create_session(
        self,
        *,
        cwd: str,
        model: str | None = None,
        org_id: str = ...,
        user_id: str = ...,
        permission_mode: str = "default",
        config: SessionConfig | None = None,
        title: str = "",
        session_id: str | None = None,
        parent_id: str | None = None,
    ) -> Session: ...


class Rewinder(Protocol):
    async def list_checkpoints(self, session_id: str) -> list[dict[str, Any]]:
        """Newest first. Each dict has at least `id`; `created_at`, `reason`, `message_id` when known."""
        ...

    async def rewind(
        self, session_id: str, *, checkpoint_id: str, mode: RewindMode, on_conflict: OnConflict
    ) -> dict[str, Any]:
        """Raises CheckpointNotFoundError (404) or ConflictError (409, e.g. files changed and on_conflict='ask')."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingOutput:
    """A staged side effect (email, invite, CRM update...) waiting for a reviewer."""

    id: str
    org_id: str
    session_id: str
    kind: str
    tool: str
    arguments: dict[str, Any]
    integration: str = ""
    summary: str = ""
    context: dict[str, Any] = field(default_factory=dict)
    status: OutputStatus = "pending"
    created_at: float = 0.0
    decided_by: str | None = None
    decided_at: float | None = None
    edited: bool = False
    result: dict[str, Any] | None = None
    error: str = ""


class OutputQueue(Protocol):
    async def stage(
        self,
        *,
        org_id: str,
        session_id: str,
        kind: str,
        tool: str,
        arguments: Mapping[str, Any],
        integration: str = "",
        summary: str = "",
        context: Mapping[str, Any] | None = None,
    ) -> PendingOutput: ...

    async def list(self, org_id: str, session_id: str) -> list[PendingOutput]: ...

    async def list_org(self, org_id: str) -> list[PendingOutput]:
        """Every output of the org, across sessions, oldest first (the review queue)."""
        ...

    async def get(self, org_id: str, session_id: str, output_id: str) -> PendingOutput:
        """Raises NotFoundError (also for another org's or session's output)."""
        ...

    async def approve(
        self, org_id: str, session_id: str, output_id: str, *, by: str, arguments: Mapping[str, Any] | None = None
    ) -> PendingOutput:
        """Approve (optionally with edited arguments) and execute exactly once.

        Raises:
            ConflictError: code "already_decided" for every caller but the one that won.
        """
        ...

    async def reject(self, org_id: str, session_id: str, output_id: str, *, by: str, reason: str = "") -> PendingOutput:
        """Raises ConflictError(code="already_decided") when someone decided first."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Integration:
    id: str
    org_id: str
    kind: str
    name: str
    config: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    created_by: str = ""
    # Set by an OAuth connect: whose grant was stored ("org" or "user:<id>").
    grant_owner: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class IntegrationStatus:
    id: str
    state: IntegrationState
    detail: str = ""
    checked_at: float = 0.0
    # When data last flowed (a successful connection, health check or token refresh); None: never.
    last_sync: float | None = None


class IntegrationRegistry(Protocol):
    async def list(self, org_id: str) -> list[Integration]: ...

    async def create(self, org_id: str, *, kind: str, name: str, config: Mapping[str, Any], by: str) -> Integration:
        """Raises ConfigError for an unknown kind or bad config."""
        ...

    async def delete(self, org_id: str, integration_id: str) -> None:
        """Raises NotFoundError (also for another org's integration)."""
        ...

    async def status(self, org_id: str, integration_id: str) -> IntegrationStatus:
        """Raises NotFoundError (also for another org's integration)."""
        ...

    async def mcp_allowlist(self, org_id: str) -> list[str]:
        """URL globs a custom MCP server's URL must match to be added."""
        ...

    async def set_mcp_allowlist(self, org_id: str, patterns: list[str]) -> None: ...


class PermissionChecker(Protocol):
    async def __call__(
        self, *, org_id: str, tool: str, tool_input: Mapping[str, Any], cwd: str, mode: str
    ) -> PermissionDecision:
        """What the permission engine would decide for this call (rules, mode, org policy); no side effects."""
        ...


class OAuthConnector(Protocol):
    async def begin_connect(self, org_id: str, integration_id: str, *, user_id: str, owner: str = "org") -> str:
        """The provider's authorize URL; the grant is stored for `owner` ("org", or "user:<user_id>": the caller's
        own). Raises NotFoundError (also for another org's id) or ConfigError."""
        ...

    async def complete_connect(
        self,
        org_id: str,
        *,
        state: str,
        code: str,
        iss: str | None = None,
        user_id: str = "",
        may_connect_org: bool = True,
    ) -> Integration:
        """Finish the flow the caller's org started. Raises NotFoundError for an unknown state, another org's or
        another user's; PermissionDeniedError for an org grant a caller who may not connect the org's completes,
        or an expired or mixed-up one."""
        ...

    async def started_by(self, state: str) -> tuple[str, str] | None:
        """(org id, user id) of the pending sign-in `state` was minted for, when it is genuine and unspent; the
        callback's credential (dexa.integrations.oauth_state). None for anything else."""
        ...

    async def grants(self, org_id: str, integration_id: str, *, user_id: str) -> Mapping[str, Any]:
        """{"policy", "grant_owner" (whose grant `user_id`'s sessions use, or None), "grants" (the org's and the
        caller's own, public facts)}. Raises NotFoundError (also for another org's id)."""
        ...

    async def forget_grant(self, org_id: str, integration_id: str, owner: str) -> None:
        """Disconnect one grant. Raises NotFoundError when there is none."""
        ...

    async def set_grant_policy(self, org_id: str, integration_id: str, policy: str) -> None:
        """Raises NotFoundError or ConfigError (unknown policy)."""
        ...


class LinkClaims(Protocol):
    @property
    def org_id(self) -> str: ...

    @property
    def output_id(self) -> str: ...

    @property
    def action(self) -> str: ...

    @property
    def expires_at(self) -> float: ...


class LinkQueue(Protocol):
    """What SignedLinks.redeem acts through (org + output id; the API maps it onto its OutputQueue)."""

    async def approve(self, org_id: str, output_id: str, *, by: str) -> Any: ...

    async def reject(self, org_id: str, output_id: str, *, by: str, reason: str = "") -> Any: ...


class SignedLinks(Protocol):
    def peek(self, token: str) -> LinkClaims:
        """Verify without spending. Raises PermissionDeniedError for a tampered, malformed or expired link."""
        ...

    async def redeem(
        self, token: str, queue: LinkQueue, *, by: str = "link", reason: str = "", decide_tool: Any = None
    ) -> Any:
        """Spend once and act (a tool-approval link through `decide_tool(claims, by)`). Raises ConflictError when
        already used."""
        ...
