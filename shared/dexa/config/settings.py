"""The effective settings of one session: Claude Code's layers merged, every rule remembering its file.

Layers, highest first (reference §1.2): managed/org policy, command line, `.claude/settings.local.json`,
`.claude/settings.json`, `~/.claude/settings.json`. `loader.load_settings` builds an `EffectiveSettings`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from dexa.egress.policy import NetworkPolicy

# Re-exported: most callers know SettingsProblem from here.
from .problems import SettingsProblem as SettingsProblem

if TYPE_CHECKING:
    from .hooks import HooksConfig

Scope = Literal["managed", "cli", "local", "project", "user", "session"]
# Highest precedence first; the order scalars are resolved in.
SCOPES: tuple[Scope, ...] = ("managed", "cli", "local", "project", "user")

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Layer:
    """One settings file (or the command line, or org policy) as read, before the merge."""

    source: str  # file path, "cli", "policy"
    scope: Scope
    anchor: str  # what a `/path` rule is relative to
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleEntry:
    """One permission rule as written, plus where it came from."""

    rule: str
    source: str  # the settings file path, "cli", "policy" or "session"
    # The directory a `/path` Read/Edit pattern is relative to (reference §2.4).
    anchor: str
    scope: Scope


@dataclass(frozen=True, slots=True, kw_only=True)
class DirEntry:
    path: str
    source: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DexaSettings:
    """Dexa's own keys (the `dexa` object of a settings file)."""

    output_policy: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    # The same, merged per level ("org": managed; "user": user and --settings; "project": the repository's files),
    # because a project may only tighten what the org and the user decided (integrations/outputs/policy.py).
    output_policy_layers: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: _EMPTY)
    network: NetworkPolicy = field(default_factory=NetworkPolicy)
    # The org's `dexa.network.maxLevel` ceiling: a session request (API, CLI flag) may never exceed it.
    network_cap: NetworkPolicy = field(default_factory=lambda: NetworkPolicy(level="full"))
    budget_usd: float | None = None
    loop_detection_threshold: int | None = None
    max_turns: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EffectiveSettings:
    cwd: str
    home: str
    hooks: HooksConfig
    allow: tuple[RuleEntry, ...] = ()
    ask: tuple[RuleEntry, ...] = ()
    deny: tuple[RuleEntry, ...] = ()
    default_mode: str | None = None
    default_mode_source: str | None = None
    additional_directories: tuple[DirEntry, ...] = ()
    disable_bypass_permissions_mode: bool = False
    allow_managed_permission_rules_only: bool = False
    env: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    model: str | None = None
    allowed_http_hook_urls: tuple[str, ...] | None = None
    # `claudeMdExcludes` from managed, CLI, user and local layers (Claude Code ignores the shared project file).
    claude_md_excludes: tuple[str, ...] = ()
    dexa: DexaSettings = field(default_factory=DexaSettings)
    # Files that contributed at least one valid key, highest precedence first.
    files: tuple[str, ...] = ()
    # Where each scalar came from, by dotted key (for "why is this set?").
    scalar_sources: Mapping[str, str] = field(default_factory=lambda: _EMPTY)

    def rules(self, behavior: Literal["allow", "ask", "deny"]) -> tuple[RuleEntry, ...]:
        return {"allow": self.allow, "ask": self.ask, "deny": self.deny}[behavior]

    def working_dirs(self, extra: tuple[str, ...] = ()) -> tuple[str, ...]:
        """cwd + additionalDirectories + `--add-dir`, absolute, de-duplicated, in that order."""
        out: list[str] = []
        for path in (self.cwd, *(d.path for d in self.additional_directories), *extra):
            if path == "~" or path.startswith("~/"):
                path = self.home + path[1:]
            norm = os.path.normpath(os.path.join(self.cwd, path))
            if norm not in out:
                out.append(norm)
        return tuple(out)

    @property
    def bypass_allowed(self) -> bool:
        return not self.disable_bypass_permissions_mode
