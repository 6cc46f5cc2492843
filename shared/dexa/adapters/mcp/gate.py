"""The seam where the runtime decides about an MCP call before anything reaches the server.

The staged-output layer (`dexa.integrations.outputs`) implements `CallGate`; the default gate lets every call
through, leaving the decision to the permission engine as Claude Code does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from dexa.core.tools import ToolContext, ToolOutput

REQUIRES_USER_INTERACTION = "anthropic/requiresUserInteraction"
MAX_RESULT_SIZE_CHARS = "anthropic/maxResultSizeChars"


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolHints:
    """Tool annotations with the spec's defaults filled in (read-only false, destructive true, open-world true)."""

    read_only: bool = False
    destructive: bool = True
    idempotent: bool = False
    open_world: bool = True
    requires_user_interaction: bool = False
    max_result_chars: int | None = None
    title: str = ""
    # Whether the server stated any of the four hints; a tool with none is classified by its name instead.
    annotated: bool = True

    @staticmethod
    def from_wire(annotations: Any, meta: Mapping[str, Any] | None) -> ToolHints:
        def hint(name: str, default: bool) -> bool:
            value = getattr(annotations, name, None) if annotations is not None else None
            return default if value is None else bool(value)

        meta = meta or {}
        stated = annotations is not None and any(
            getattr(annotations, name, None) is not None
            for name in ("read_only_hint", "destructive_hint", "idempotent_hint", "open_world_hint")
        )
        max_chars = meta.get(MAX_RESULT_SIZE_CHARS)
        return ToolHints(
            read_only=hint("read_only_hint", False),
            destructive=hint("destructive_hint", True),
            idempotent=hint("idempotent_hint", False),
            open_world=hint("open_world_hint", True),
            requires_user_interaction=bool(meta.get(REQUIRES_USER_INTERACTION, False)),
            max_result_chars=int(max_chars) if isinstance(max_chars, int | float) and max_chars > 0 else None,
            title=str(getattr(annotations, "title", "") or ""),
            annotated=stated,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "read_only": self.read_only,
            "destructive": self.destructive,
            "idempotent": self.idempotent,
            "open_world": self.open_world,
            "requires_user_interaction": self.requires_user_interaction,
            "annotated": self.annotated,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class McpCall:
    """One call the model asked for, with everything a policy needs to judge it."""

    server: str
    tool: str
    exposed_name: str
    arguments: dict[str, Any]
    hints: ToolHints
    scope: str = "project"
    trusted: bool = False
    trusted_reads: bool = False
    kind: str = ""
    integration_id: str | None = None
    # How the server is started or reached (command line or URL): recognises well-known third-party servers.
    origin: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class CallGate(Protocol):
    async def check(self, call: McpCall, ctx: ToolContext) -> ToolOutput | None:
        """None lets the call reach the server; a ToolOutput is returned to the model instead (staged, denied)."""
        ...

    async def held(self, call: McpCall, *, org_id: str, session_id: str) -> bool:
        """Whether `check` will keep this call from the server (stage, auto-apply or deny), asked before it runs."""
        ...


class PassThroughGate:
    async def check(self, call: McpCall, ctx: ToolContext) -> ToolOutput | None:
        return None

    async def held(self, call: McpCall, *, org_id: str, session_id: str) -> bool:
        return False
