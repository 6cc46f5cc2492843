"""What the MCP tools use of the manager that made them, named as a Protocol.

The manager builds the tools (McpTool, the resource tools, the lazy source tools) and the tools call back into
it; naming the calls here instead of importing the manager keeps the package free of cycles. `manager.py` checks,
under pyright, that McpManager still conforms.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from dexa.core.tools import Emit, HeldTool, Tool

from .connection import McpConnection
from .gate import CallGate
from .names import McpLimits


class LoadedTool(Tool, HeldTool, Protocol):
    """A loaded server tool: it runs, and an output policy may hold its calls."""


class McpHost(Protocol):
    limits: McpLimits
    gate: CallGate

    def bind_emit(self, emit: Emit) -> None: ...

    def names(self) -> list[str]: ...

    def has_server(self, name: str) -> bool: ...

    def connection(self, name: str) -> McpConnection: ...

    def loaded_tools(self, name: str) -> Sequence[LoadedTool]: ...

    async def expand(self, name: str) -> None: ...

    async def load_sources(self, names: Sequence[str]) -> dict[str, dict[str, Any]]: ...

    async def describe_sources(self, *, connect: bool = False, timeout_s: float = 10.0) -> list[dict[str, Any]]: ...

    async def unconnected_sources(self) -> list[dict[str, Any]]: ...

    async def list_resources(self, server: str | None = None) -> tuple[list[dict[str, Any]], list[str]]: ...
