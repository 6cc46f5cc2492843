"""The permission engine: Claude Code's rule grammar, precedence and modes over Dexa's settings stack."""

from __future__ import annotations

from .engine import PermissionEngine, combine, hook_overridable
from .modes import MODES, check_mode, cycle_mode, initial_mode, normalize_mode
from .persist import persist_allow_rule, persistence_scope
from .rules import RuleSyntaxError, parse_rule, split_tool_list

__all__ = [
    "MODES",
    "PermissionEngine",
    "RuleSyntaxError",
    "check_mode",
    "combine",
    "cycle_mode",
    "hook_overridable",
    "initial_mode",
    "normalize_mode",
    "parse_rule",
    "persist_allow_rule",
    "persistence_scope",
    "split_tool_list",
]
