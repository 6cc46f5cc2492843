"""Render memory the way Claude Code presents it to the model (claudemd.ts `getClaudeMds`)."""

from __future__ import annotations

from collections.abc import Iterable

from .files import MemoryFile

MEMORY_INSTRUCTION_PROMPT = (
    "Codebase and user instructions are shown below. Be sure to adhere to these instructions. IMPORTANT: These "
    "instructions OVERRIDE any default behavior and you MUST follow them exactly as written."
)
_DESCRIPTIONS = {
    "project": " (project instructions, checked into the codebase)",
    "local": " (user's private project instructions, not checked in)",
}
# Claude Code labels user and managed memory alike.
_GLOBAL = " (user's private global instructions for all projects)"


def describe(file: MemoryFile) -> str:
    return _DESCRIPTIONS.get(file.scope, _GLOBAL)


def render_memory(files: Iterable[MemoryFile]) -> str:
    """The memory block for the system prompt; empty when no file has content."""
    blocks = [f"Contents of {f.path}{describe(f)}:\n\n{f.content}" for f in files if f.content.strip()]
    if not blocks:
        return ""
    return MEMORY_INSTRUCTION_PROMPT + "\n\n" + "\n\n".join(blocks)


def render_reminder(files: Iterable[MemoryFile]) -> str:
    """Memory that arrives mid-session (nested CLAUDE.md, path-matched rules), for appending to a tool result."""
    blocks = [f"Contents of {f.path}{describe(f)}:\n\n{f.content}" for f in files if f.content.strip()]
    if not blocks:
        return ""
    return "<system-reminder>\n" + "\n\n".join(blocks) + "\n</system-reminder>"
