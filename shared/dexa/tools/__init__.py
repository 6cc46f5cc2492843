"""Claude Code's built-in code tools (Read, Edit, Bash, Grep...) over the Workspace port, plus RunScript."""

from .registry import builtin_tools, default_registry

__all__ = ["builtin_tools", "default_registry"]
