"""The built-in code tools and the default per-session registry."""

from __future__ import annotations

from collections.abc import Sequence

from dexa.core.errors import ConfigError
from dexa.core.tools import TOOL_ALIASES, Tool, ToolRegistry

from .files import Edit, MultiEdit, Read, Write
from .notebook import NotebookEdit
from .script import RunScript
from .search import Glob, Grep
from .shell import Bash, BashOutput, KillShell
from .todo import TodoRead, TodoWrite
from .web import WebFetch, WebSearch


def builtin_tools() -> list[Tool]:
    """One fresh instance of every code tool (WebFetch keeps a per-instance page cache)."""
    return [
        Read(),
        Write(),
        Edit(),
        MultiEdit(),
        NotebookEdit(),
        Glob(),
        Grep(),
        Bash(),
        BashOutput(),
        KillShell(),
        WebFetch(),
        WebSearch(),
        TodoWrite(),
        TodoRead(),
        RunScript(),
    ]


def default_registry(names: Sequence[str] | None = None) -> ToolRegistry:
    """All built-in tools, or only `names` (aliases such as TaskOutput / TaskStop accepted).

    Raises:
        ConfigError: a name matches no built-in tool.
    """
    tools = builtin_tools()
    if names is None:
        return ToolRegistry(tools)
    by_name = {t.spec.name: t for t in tools}
    chosen: dict[str, Tool] = {}
    for name in names:
        canonical = TOOL_ALIASES.get(name, name)
        if canonical not in by_name:
            raise ConfigError(f"Unknown built-in tool {name!r}; known: {', '.join(sorted(by_name))}")
        chosen[canonical] = by_name[canonical]
    return ToolRegistry(chosen.values())
