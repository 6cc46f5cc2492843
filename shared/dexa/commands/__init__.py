"""Slash commands: custom `.claude/commands/` files, built-ins the REPL routes, and prompt expansion (§7)."""

from __future__ import annotations

from .builtins import BUILTIN_COMMANDS, CommandResult, ExpandedPrompt
from .expand import ExpandContext, expand_prompt, parse_slash
from .loader import discover_commands
from .rules import translate_slash_rule

__all__ = [
    "BUILTIN_COMMANDS",
    "CommandResult",
    "ExpandContext",
    "ExpandedPrompt",
    "discover_commands",
    "expand_prompt",
    "parse_slash",
    "translate_slash_rule",
]
