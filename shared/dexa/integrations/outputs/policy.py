"""Stage, auto-apply, run directly, or deny: the per-call decision for MCP calls (mcp.md §5.3).

Levels, most specific first: org (server, tool) overrides always win; then session, output type, integration and
org default; then the built-in defaults. A session may only tighten (stage/deny) unless the org allows
session-level auto-apply. Business outputs never run "direct": auto-apply still goes through the control plane, so
every external effect is executed once and lands in the side-effect ledger.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from dexa.adapters.mcp.gate import McpCall
from dexa.core.errors import ConfigError

from .kinds import DEFAULT_DECISIONS, is_private_write, output_type

Decision = Literal["direct", "stage", "auto", "deny"]
DECISIONS: frozenset[str] = frozenset({"direct", "stage", "auto", "deny"})
POLICY_NAMESPACE = "output_policy"
# Scopes where a developer configured the server for their own session; the permission engine governs those.
DEVELOPER_SCOPES = frozenset({"project", "local", "user", "session", "org"})
_STRICTNESS = {"direct": 0, "auto": 1, "stage": 2, "deny": 3}


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyDecision:
    decision: Decision
    rule: str
    kind: str


def _decisions(raw: Any, where: str) -> dict[str, Decision]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"output policy: {where} must be an object of decisions")
    out: dict[str, Decision] = {}
    for key, value in raw.items():  # pyright: ignore[reportUnknownVariableType]
        if value not in DECISIONS:
            raise ConfigError(f"output policy: {where}.{key} = {value!r}; expected one of {sorted(DECISIONS)}")
        out[str(key)] = cast(Decision, value)  # pyright: ignore[reportUnknownArgumentType]
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputPolicy:
    default: Decision | None = None
    output_types: dict[str, Decision] = field(default_factory=dict)
    integrations: dict[str, Decision] = field(default_factory=dict)
    # "server/tool" keys (org level: always win).
    tools: dict[str, Decision] = field(default_factory=dict)
    allow_session_auto: bool = False

    @staticmethod
    def from_dict(data: Mapping[str, Any] | None) -> OutputPolicy:
        """Raises ConfigError naming the bad field."""
        data = data or {}
        default = data.get("default")
        if default is not None and default not in DECISIONS:
            raise ConfigError(f"output policy: default = {default!r}; expected one of {sorted(DECISIONS)}")
        return OutputPolicy(
            default=cast(Decision | None, default),
            output_types=_decisions(data.get("output_types"), "output_types"),
            integrations=_decisions(data.get("integrations"), "integrations"),
            tools=_decisions(data.get("tools"), "tools"),
            allow_session_auto=bool(data.get("allow_session_auto", False)),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "default": self.default,
            "output_types": self.output_types,
            "integrations": self.integrations,
            "tools": self.tools,
            "allow_session_auto": self.allow_session_auto,
        }


def _session_choice(
    session: OutputPolicy | None, org: OutputPolicy, kind: str, server: str
) -> tuple[Decision, str] | None:
    if session is None:
        return None
    for value, rule in (
        (session.output_types.get(kind), f"session.output_types.{kind}"),
        (session.integrations.get(server), f"session.integrations.{server}"),
        (session.default, "session.default"),
    ):
        if value is None:
            continue
        if value == "auto" and not org.allow_session_auto:
            continue  # a session cannot loosen what the org stages
        return cast(Decision, value), rule
    return None


def decide(call: McpCall, *, org: OutputPolicy, session: OutputPolicy | None = None) -> PolicyDecision:
    kind = (output_type(call.kind, call.tool, call.arguments) if call.kind else None) or ""
    override = org.tools.get(f"{call.server}/{call.tool}")
    if override is not None:
        return _business_safe(
            PolicyDecision(decision=override, rule=f"org.tools.{call.server}/{call.tool}", kind=kind or "mcp_call"),
            business=bool(kind),
        )
    if kind:
        chosen: tuple[Decision, str] | None = _session_choice(session, org, kind, call.server)
        if chosen is None:
            levels: tuple[tuple[Decision | None, str], ...] = (
                (org.output_types.get(kind), f"org.output_types.{kind}"),
                (org.integrations.get(call.server), f"org.integrations.{call.server}"),
                (org.default, "org.default"),
            )
            for value, rule in levels:
                if value is not None:
                    chosen = (value, rule)
                    break
        if chosen is None:
            chosen = (cast(Decision, DEFAULT_DECISIONS.get(kind, "stage")), f"default.{kind}")
        return _business_safe(PolicyDecision(decision=chosen[0], rule=chosen[1], kind=kind), business=True)
    if call.trusted and call.kind and is_private_write(call.kind, call.tool, call.arguments):
        return PolicyDecision(decision="direct", rule=f"managed.private_write.{call.kind}.{call.tool}", kind="")
    return _annotation_default(call, org, session)


def _business_safe(decision: PolicyDecision, *, business: bool) -> PolicyDecision:
    if business and decision.decision == "direct":
        return PolicyDecision(
            decision="auto", rule=decision.rule + " (direct means auto-apply for outputs)", kind=decision.kind
        )
    return decision


def _annotation_default(call: McpCall, org: OutputPolicy, session: OutputPolicy | None) -> PolicyDecision:
    hints = call.hints
    integration = org.integrations.get(call.server)
    if integration is not None and not hints.read_only:
        return PolicyDecision(decision=integration, rule=f"org.integrations.{call.server}", kind="mcp_call")
    if hints.requires_user_interaction:
        return PolicyDecision(decision="stage", rule="annotation.requiresUserInteraction", kind="mcp_call")
    if call.scope in DEVELOPER_SCOPES:
        return PolicyDecision(decision="direct", rule=f"scope.{call.scope}", kind="")
    if call.trusted:
        if hints.read_only:
            return PolicyDecision(decision="direct", rule="annotation.readOnly", kind="")
        if not hints.open_world and not hints.destructive:
            return PolicyDecision(decision="direct", rule="annotation.closedWorldWrite", kind="")
        return PolicyDecision(decision="stage", rule="annotation.openWorldOrDestructive", kind="mcp_call")
    # Untrusted (customer-added) servers: annotations only count once an admin trusts the server for reads.
    if hints.read_only and call.trusted_reads:
        return PolicyDecision(decision="direct", rule="annotation.readOnly.trustedReads", kind="")
    chosen = _session_choice(session, org, "mcp_call", call.server)
    if chosen is not None and _STRICTNESS[chosen[0]] >= _STRICTNESS["stage"]:
        return PolicyDecision(decision=chosen[0], rule=chosen[1], kind="mcp_call")
    return PolicyDecision(decision="stage", rule="untrusted.server", kind="mcp_call")
