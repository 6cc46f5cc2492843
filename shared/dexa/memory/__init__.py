"""Memory: CLAUDE.md files, `.claude/rules/`, `@imports` and lazily loaded subtree memory (reference §4)."""

from __future__ import annotations

from .files import MemoryFile, MemoryLoad, PendingRule
from .loader import MemoryConfig, MemoryReader, load_memory
from .nested import MemoryIndex
from .render import MEMORY_INSTRUCTION_PROMPT, render_memory, render_reminder

__all__ = [
    "MEMORY_INSTRUCTION_PROMPT",
    "MemoryConfig",
    "MemoryFile",
    "MemoryIndex",
    "MemoryLoad",
    "MemoryReader",
    "PendingRule",
    "load_memory",
    "render_memory",
    "render_reminder",
]
