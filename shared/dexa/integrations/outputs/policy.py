"""Stage, auto-apply, run directly, or deny: the one decision every MCP call gets before it runs.

What a call is comes first: a business output of one of Dexa's managed servers (kinds.py), else a read or a write
as its annotations say (classify.py). Built-in defaults: reads run, writes are staged for review, business outputs
are staged. Then the policy documents, each with the same keys (`tools` "server/tool", `output_types`, `reads` and
`integrations` per server, `default` for writes):

  org      the org's stored policy (API, `dexa integrations policy`) over the managed settings' dexa.outputPolicy.
           A per-tool rule is final; any other org rule sets the decision and no user setting can change it.
  user     ~/.claude/settings.json and --settings: replaces the built-in default where the org said nothing.
  project  .claude/settings.json and settings.local.json (they live in the repository): may only tighten.
  session  the session's stored policy: may only tighten, unless the org allows session auto-apply.

Business outputs never run "direct": auto-apply still goes through the control plane, so every external effect is
executed once and lands in the side-effect ledger.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from dexa.adapters.mcp.gate import McpCall
from dexa.core.errors import ConfigError

from .classify import classify
from .kinds import DEFAULT_DECISIONS, is_private_write, output_type

Decision = Literal["direct", "stage", "auto", "deny"]
DECISIONS: frozenset[str] = frozenset({"direct", "stage", "auto", "deny"})
POLICY_NAMESPACE = "output_policy"
_STRICTNESS = {"direct": 0, "auto": 1, "stage": 2, "deny": 3}
_SECTIONS = ("output_types", "integrations", "reads", "tools")


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyDecision:
    decision: Decision
    rule: str
    # The output type a staged call gets: a business type, or "mcp_call"; "" when the call runs.
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
    # Per server (any MCP server's name, managed or not): the decision for its writes.
    integrations: dict[str, Decision] = field(default_factory=dict)
    # Per server: the decision for its reads (they run unless a policy says otherwise).
    reads: dict[str, Decision] = field(default_factory=dict)
    # "server/tool" keys: the most specific rule of a level.
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
            reads=_decisions(data.get("reads"), "reads"),
            tools=_decisions(data.get("tools"), "tools"),
            allow_session_auto=bool(data.get("allow_session_auto", False)),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "default": self.default,
            "output_types": self.output_types,
            "integrations": self.integrations,
            "reads": self.reads,
            "tools": self.tools,
            "allow_session_auto": self.allow_session_auto,
        }

    def over(self, base: OutputPolicy) -> OutputPolicy:
        """This document's rules on top of `base`'s, key by key (the stored org policy over managed settings)."""
        return OutputPolicy(
            default=self.default if self.default is not None else base.default,
            output_types={**base.output_types, **self.output_types},
            integrations={**base.integrations, **self.integrations},
            reads={**base.reads, **self.reads},
            tools={**base.tools, **self.tools},
            allow_session_auto=self.allow_session_auto or base.allow_session_auto,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicySet:
    """Every level's document for one call; absent levels say nothing."""

    org: OutputPolicy = field(default_factory=OutputPolicy)
    user: OutputPolicy | None = None
    project: OutputPolicy | None = None
    session: OutputPolicy | None = None


def _match(policy: OutputPolicy, level: str, call: McpCall, kind: str, read: bool) -> tuple[Decision, str] | None:
    """The most specific rule of one level that covers this call."""
    key = f"{call.server}/{call.tool}"
    candidates: list[tuple[Decision | None, str]] = [(policy.tools.get(key), f"{level}.tools.{key}")]
    if kind:
        candidates.append((policy.output_types.get(kind), f"{level}.output_types.{kind}"))
    if read:
        candidates.append((policy.reads.get(call.server), f"{level}.reads.{call.server}"))
    else:
        candidates.append((policy.integrations.get(call.server), f"{level}.integrations.{call.server}"))
        candidates.append((policy.default, f"{level}.default"))
    return next(((d, r) for d, r in candidates if d is not None), None)


def _builtin(call: McpCall, kind: str) -> tuple[Decision, str, bool]:
    """The decision with no policy at all, its rule, and whether the call is a read."""
    if kind:
        return cast(Decision, DEFAULT_DECISIONS.get(kind, "stage")), f"default.{kind}", False
    if call.trusted and call.kind and is_private_write(call.kind, call.tool, call.arguments):
        return "direct", f"managed.private_write.{call.kind}.{call.tool}", False
    what = classify(call.tool, call.hints)
    if call.hints.requires_user_interaction:
        return "stage", "annotation.requiresUserInteraction", what.read
    if what.read:
        return "direct", what.basis, True
    if call.trusted and not call.hints.open_world and not call.hints.destructive:
        # Dexa's own servers: a closed-world, non-destructive write stays inside the org (a draft, a note).
        return "direct", "annotation.closedWorldWrite", False
    return "stage", what.basis, False


def decide(
    call: McpCall,
    *,
    org: OutputPolicy | None = None,
    session: OutputPolicy | None = None,
    policies: PolicySet | None = None,
) -> PolicyDecision:
    levels = policies or PolicySet(org=org or OutputPolicy(), session=session)
    kind = (output_type(call.kind, call.tool, call.arguments) if call.kind else None) or ""
    builtin, builtin_rule, read = _builtin(call, kind)
    business = bool(kind)

    def done(decision: Decision, rule: str) -> PolicyDecision:
        if business and decision == "direct":
            decision, rule = "auto", rule + " (direct means auto-apply for outputs)"
        staged_kind = "" if decision == "direct" else kind or "mcp_call"
        return PolicyDecision(decision=decision, rule=rule, kind=staged_kind)

    org_tool = levels.org.tools.get(f"{call.server}/{call.tool}")
    if org_tool is not None:
        return done(org_tool, f"org.tools.{call.server}/{call.tool}")
    chosen = _match(levels.org, "org", call, kind, read)
    if chosen is None and levels.user is not None:
        chosen = _match(levels.user, "user", call, kind, read)
    if chosen is None:
        chosen = (builtin, builtin_rule)
    for level, policy in (("project", levels.project), ("session", levels.session)):
        if policy is None:
            continue
        tighter = _match(policy, level, call, kind, read)
        if tighter is None:
            continue
        loosen_ok = level == "session" and tighter[0] == "auto" and levels.org.allow_session_auto
        if _STRICTNESS[tighter[0]] > _STRICTNESS[chosen[0]] or loosen_ok:
            chosen = tighter
    return done(*chosen)
