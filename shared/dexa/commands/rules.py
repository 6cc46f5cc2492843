"""Legacy `SlashCommand` permission rules, translated to the `Skill` rules that replaced them (reference §0, §7)."""

from __future__ import annotations

import re

_LEGACY = re.compile(r"^\s*SlashCommand(?::/?(?P<name>[^\s:]+)(?P<prefix>:\*)?)?\s*$")


def translate_slash_rule(rule: str) -> str:
    """`SlashCommand` -> `Skill`, `SlashCommand:/commit` -> `Skill(commit)`, `...:/review-pr:*` -> `Skill(review-pr *)`.

    Anything else is returned unchanged, so the permission layer can map every rule through this function.
    """
    m = _LEGACY.match(rule)
    if m is None:
        return rule
    name = m.group("name")
    if name is None:
        return "Skill"
    return f"Skill({name} *)" if m.group("prefix") else f"Skill({name})"
