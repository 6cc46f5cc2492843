"""While a skill runs, its `allowed-tools` are pre-approved and its `disallowed-tools` are refused (§6.2).

Grants last for the turn that invoked the skill: `on_user_prompt()` (called from the UserPromptSubmit hook path)
drops them. A grant made while expanding a typed `/command` survives that command's own prompt submission.
`GrantPolicy` wraps the session's permission policy; deny decisions from the base policy always stand.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dexa.core.ports import PermissionDecision, PermissionPolicy
from dexa.core.tools import TOOL_ALIASES
from dexa.permissions.bash import parse_command
from dexa.permissions.rules import CompiledRule, RuleSyntaxError

logger = logging.getLogger(__name__)

_PATH_FIELDS = {
    "Read": "file_path",
    "Write": "file_path",
    "Edit": "file_path",
    "MultiEdit": "file_path",
    "NotebookEdit": "notebook_path",
    "Glob": "path",
    "Grep": "path",
}
# Loop detection and hooks asked for a reason a skill's pre-approval must not silence.
_NEVER_UPGRADE = frozenset({"loop-detection", "hook"})


@dataclass(slots=True)
class Grant:
    skill: str
    allowed: tuple[CompiledRule, ...]
    disallowed: tuple[CompiledRule, ...]
    restrict: bool = False
    survive_next_prompt: bool = False


def compile_rules(rules: tuple[str, ...], behavior: str, *, cwd: str, home: str, source: str) -> list[CompiledRule]:
    out: list[CompiledRule] = []
    for raw in rules:
        try:
            out.append(CompiledRule(raw, behavior, source, anchor=cwd, cwd=cwd, home=home))  # type: ignore[arg-type]
        except RuleSyntaxError as exc:
            logger.warning("skill %s: ignoring tool rule %r: %s", source, raw, exc)
    return out


def rule_covers(rule: CompiledRule, tool: str, tool_input: Mapping[str, Any], *, cwd: str) -> bool:
    """Does an allow-style rule cover this whole call? Compound shell commands need every part covered."""
    canonical = TOOL_ALIASES.get(tool, tool)
    if not rule.covers_tool(canonical):
        return False
    if rule.whole_tool:
        return True
    if rule.kind == "bash":
        parsed = parse_command(str(tool_input.get("command", "")))
        if not parsed.ok or parsed.opaque or not parsed.subcommands:
            return False
        return all(rule.match_command(sub.allow_text()) and not sub.redirects for sub in parsed.subcommands)
    if rule.kind == "path":
        raw = tool_input.get(_PATH_FIELDS.get(canonical, "file_path"))
        if not isinstance(raw, str) or not raw:
            return False
        return rule.match_path(os.path.normpath(os.path.join(cwd, os.path.expanduser(raw))))
    if rule.kind == "name":
        name = tool_input.get("skill") if canonical == "Skill" else tool_input.get("subagent_type")
        return isinstance(name, str) and rule.match_name(name)
    return False


@dataclass(slots=True)
class SkillGrants:
    """One session's active skill grants (in memory: they never outlive a turn)."""

    cwd: str
    home: str
    restrict: bool = False
    grants: list[Grant] = field(default_factory=list)

    def grant(
        self,
        skill: str,
        allowed: tuple[str, ...],
        disallowed: tuple[str, ...] = (),
        *,
        survive_next_prompt: bool = False,
    ) -> None:
        if not allowed and not disallowed:
            return
        self.grants.append(
            Grant(
                skill=skill,
                allowed=tuple(compile_rules(allowed, "allow", cwd=self.cwd, home=self.home, source=f"skill:{skill}")),
                disallowed=tuple(
                    compile_rules(disallowed, "deny", cwd=self.cwd, home=self.home, source=f"skill:{skill}")
                ),
                restrict=self.restrict and bool(allowed),
                survive_next_prompt=survive_next_prompt,
            )
        )

    def on_user_prompt(self) -> None:
        kept = [g for g in self.grants if g.survive_next_prompt]
        for g in kept:
            g.survive_next_prompt = False
        self.grants = kept

    def clear(self) -> None:
        self.grants.clear()

    def decide(
        self, base: PermissionDecision, tool: str, tool_input: Mapping[str, Any], *, cwd: str
    ) -> PermissionDecision:
        if not self.grants or base.behavior == "deny":
            return base
        canonical = TOOL_ALIASES.get(tool, tool)
        for g in self.grants:
            for rule in g.disallowed:
                if rule.covers_tool(canonical) and (rule.whole_tool or rule_covers(rule, tool, tool_input, cwd=cwd)):
                    return PermissionDecision(
                        behavior="deny",
                        rule=rule.raw,
                        source=f"skill:{g.skill}",
                        reason=f"{tool} is disallowed while the {g.skill} skill is active",
                    )
        for g in self.grants:
            if any(rule_covers(rule, tool, tool_input, cwd=cwd) for rule in g.allowed):
                if base.behavior == "ask" and base.rule not in _NEVER_UPGRADE:
                    return PermissionDecision(
                        behavior="allow",
                        rule=next(r.raw for r in g.allowed if rule_covers(r, tool, tool_input, cwd=cwd)),
                        source=f"skill:{g.skill}",
                        reason=f"pre-approved by the {g.skill} skill's allowed-tools",
                    )
                return base
        restricting = [g for g in self.grants if g.restrict]
        if restricting and canonical not in ("Skill",):
            names = ", ".join(g.skill for g in restricting)
            return PermissionDecision(
                behavior="deny",
                rule=None,
                source=f"skill:{restricting[-1].skill}",
                reason=f"{tool} is outside the allowed-tools of the active skill ({names})",
            )
        return base


@dataclass(slots=True)
class GrantPolicy:
    """The session policy with skill grants applied on top."""

    base: PermissionPolicy
    grants: SkillGrants

    def decide(self, tool_name: str, tool_input: Mapping[str, Any], *, mode: str, cwd: str) -> PermissionDecision:
        decision = self.base.decide(tool_name, tool_input, mode=mode, cwd=cwd)
        return self.grants.decide(decision, tool_name, tool_input, cwd=cwd)

    def __getattr__(self, name: str) -> Any:
        # The permission layer may expose more than `decide` (session rules, explanations): pass it through.
        if name in ("base", "grants"):
            raise AttributeError(name)
        return getattr(self.base, name)
