"""The tool contract. Concrete tools live in `dexa.tools` (code tools) and `dexa.adapters.mcp` (MCP tools)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from .ports import KeyValueStore, ToolSpec, Workspace

Emit = Callable[[str, Mapping[str, Any]], Awaitable[object]]

# Newer Claude Code names map onto the canonical ones so rules and hooks written for either keep working.
TOOL_ALIASES: dict[str, str] = {
    "TaskOutput": "BashOutput",
    "TaskStop": "KillShell",
    "KillBash": "KillShell",
    "Agent": "Task",
}


@dataclass(slots=True, kw_only=True)
class ToolOutput:
    content: str
    is_error: bool = False
    # Structured result for hooks (`tool_response`), clients and artifacts; never sent to the model.
    data: dict[str, Any] = field(default_factory=dict[str, Any])


@dataclass(slots=True, kw_only=True)
class SessionState:
    """Mutable per-session tool state that survives across turns (persisted by the runtime as a document)."""

    cwd: str
    todos: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    read_files: dict[str, float] = field(default_factory=dict[str, float])
    background_jobs: list[str] = field(default_factory=list[str])

    def to_dict(self) -> dict[str, Any]:
        return {
            "cwd": self.cwd,
            "todos": self.todos,
            "read_files": self.read_files,
            "background_jobs": self.background_jobs,
        }

    @staticmethod
    def from_dict(data: Mapping[str, Any], *, default_cwd: str) -> SessionState:
        return SessionState(
            cwd=str(data.get("cwd") or default_cwd),
            todos=list(data.get("todos") or []),
            read_files=dict(data.get("read_files") or {}),
            background_jobs=list(data.get("background_jobs") or []),
        )


@dataclass(slots=True, kw_only=True)
class ToolContext:
    session_id: str
    org_id: str
    tool_use_id: str
    workspace: Workspace
    state: SessionState
    emit: Emit
    kv: KeyValueStore
    network: bool = False
    allow_private_network: bool = False
    # Late-bound capabilities (subagent runner, MCP manager, web search model...), keyed by name.
    services: dict[str, Any] = field(default_factory=dict[str, Any])

    @property
    def cwd(self) -> str:
        return self.state.cwd


class Tool(Protocol):
    spec: ToolSpec
    # Read-only tools never change the workspace; they may run concurrently and never need a checkpoint.
    read_only: bool

    async def run(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput: ...


@runtime_checkable
class HeldTool(Protocol):
    """A tool whose calls an output policy may hold (stage for review, auto-apply, or block) instead of running.

    Asked before the permission prompt: a held call never reaches its server on the model's word, so prompting
    for it would only ask permission to ask. Deny rules, ask rules and hooks still apply as usual.
    """

    async def held(self, tool_input: dict[str, Any], *, org_id: str, session_id: str) -> bool: ...


class ToolRegistry:
    """The tools one session can call, by canonical name, with alias resolution."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        self._resolvers: list[Callable[[str], Tool | None]] = []
        for tool in tools:
            self.add(tool)

    def add_resolver(self, resolver: Callable[[str], Tool | None]) -> None:
        """Serve names nobody listed yet (an MCP server whose tools load on the first direct call)."""
        self._resolvers.append(resolver)

    def add(self, tool: Tool) -> None:
        self._tools[tool.spec.name] = tool

    def remove(self, name: str) -> None:
        self._tools.pop(name, None)

    def canonical(self, name: str) -> str:
        return TOOL_ALIASES.get(name, name)

    def get(self, name: str) -> Tool | None:
        tool = self._tools.get(name) or self._tools.get(self.canonical(name))
        for resolve in self._resolvers if tool is None else ():
            tool = resolve(name)
            if tool is not None:
                break
        return tool

    def names(self) -> list[str]:
        return list(self._tools)

    def specs(self) -> list[ToolSpec]:
        return [t.spec for t in self._tools.values()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None
