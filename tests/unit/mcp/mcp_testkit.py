"""An in-process MCP server and a ToolContext for driving Dexa's MCP tools without the engine."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
import mcp.types as types
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from dexa.adapters.mcp.config import ServerConfig
from dexa.core.tools import SessionState, ToolContext
from dexa.testing.fakes import DirWorkspace

READ = types.ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=False)
WRITE = types.ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=True)


class Recorder:
    """Events emitted through a ToolContext or a manager."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, type_: str, data: Mapping[str, Any]) -> None:
        self.events.append((type_, dict(data)))

    def of(self, type_: str) -> list[dict[str, Any]]:
        return [d for t, d in self.events if t == type_]


class MemoryKv:
    def __init__(self) -> None:
        self.data: dict[tuple[str, str, str], dict[str, Any]] = {}

    async def kv_put(self, ns: str, key: str, value: Mapping[str, Any], *, org_id: str = "") -> None:
        self.data[(org_id, ns, key)] = dict(value)

    async def kv_get(self, ns: str, key: str, *, org_id: str = "") -> dict[str, Any] | None:
        return self.data.get((org_id, ns, key))

    async def kv_list(self, ns: str, *, prefix: str = "", org_id: str = "") -> list[dict[str, Any]]:
        return [v for (o, n, k), v in sorted(self.data.items()) if o == org_id and n == ns and k.startswith(prefix)]

    async def kv_delete(self, ns: str, key: str, *, org_id: str = "") -> None:
        self.data.pop((org_id, ns, key), None)

    async def kv_put_if_absent(self, ns: str, key: str, value: Mapping[str, Any], *, org_id: str = "") -> bool:
        if (org_id, ns, key) in self.data:
            return False
        self.data[(org_id, ns, key)] = dict(value)
        return True


def demo_server() -> tuple[MCPServer, dict[str, int]]:
    """A server with one tool per behaviour under test; `calls` counts executions per tool."""
    mcp = MCPServer("unit", instructions="Unit-test server.\nSecond line.")
    calls: dict[str, int] = {}

    def seen(name: str) -> None:
        calls[name] = calls.get(name, 0) + 1

    @mcp.tool(annotations=READ)
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        seen("add")
        return a + b

    @mcp.tool(annotations=READ)
    async def slow(steps: int, ctx: Context, pause: float = 0.01) -> str:
        """Report progress while working."""
        seen("slow")
        for i in range(steps):
            await ctx.report_progress(i + 1, steps, f"step {i + 1}")
            await anyio.sleep(pause)
        return "finished"

    @mcp.tool(annotations=READ)
    def big(n: int) -> str:
        """Return n characters."""
        return "x" * n

    @mcp.tool(annotations=READ, meta={"anthropic/maxResultSizeChars": 100})
    def small_cap(n: int) -> str:
        """Capped at 100 characters by its own metadata."""
        return "y" * n

    @mcp.tool()
    def fail(reason: str) -> str:
        """Always fails."""
        raise ToolError(f"failed because {reason}")

    @mcp.tool(annotations=WRITE)
    def write_note(text: str) -> str:
        """An open-world write."""
        seen("write_note")
        return f"wrote {text}"

    @mcp.tool(name="weird.name", annotations=READ)
    def weird() -> str:
        """A name with a dot."""
        return "ok"

    @mcp.resource("config://app", mime_type="application/json")
    def config() -> str:
        return '{"debug": false}'

    @mcp.resource("greeting://{name}")
    def greeting(name: str) -> str:
        return f"Hello, {name}!"

    @mcp.prompt()
    def review(code: str, language: str = "python") -> str:
        """Review some code."""
        return f"Please review this {language} code:\n{code}"

    return mcp, calls


def inproc(name: str, server: MCPServer, **kwargs: Any) -> ServerConfig:
    return ServerConfig(name=name, transport="inproc", server_object=server, **kwargs)


def tool_context(
    tmp_path: Path,
    emit: Recorder,
    kv: MemoryKv | None = None,
    tool_use_id: str = "tu_1",
    org_id: str = "org",
    session_id: str = "ses",
) -> ToolContext:
    return ToolContext(
        session_id=session_id,
        org_id=org_id,
        tool_use_id=tool_use_id,
        workspace=DirWorkspace(tmp_path),
        state=SessionState(cwd=str(tmp_path)),
        emit=emit,
        kv=kv or MemoryKv(),
    )
