"""Shared pieces of Dexa's managed MCP servers: annotation presets, agent/control modes, error mapping.

Each managed server is built twice from the same provider:
- `mode="agent"` is what a session's model talks to. A business output (send, invite, CRM write, post, public
  comment) is refused there even if a misconfigured gate let the call through: it can only be staged.
- `mode="control"` is held by the control plane and used only to execute approved outputs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

import mcp.types as types
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from dexa.core.errors import DexaError, NotFoundError
from dexa.integrations.outputs.kinds import output_type

Mode = Literal["agent", "control"]
T = TypeVar("T")

READ = types.ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
# A private write (a draft, an internal note): closed world, additive.
PRIVATE_WRITE = types.ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False
)
# Visible to people outside Dexa (an email, an invite, a Slack post).
EXTERNAL_WRITE = types.ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
)
# Changes or overwrites existing records.
DESTRUCTIVE_WRITE = types.ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=True
)


def new_server(kind: str, instructions: str) -> MCPServer:
    return MCPServer(f"dexa-{kind}", instructions=instructions, warn_on_duplicate_tools=False)


def guard(kind: str, mode: Mode, tool: str, arguments: dict[str, Any]) -> None:
    """In agent mode a business output can never execute: it must be staged and approved."""
    if mode == "agent" and output_type(kind, tool, arguments) is not None:
        raise ToolError(
            f"{tool} has external effects and can only run after a reviewer approves it; Dexa stages "
            "such calls automatically. Nothing was sent."
        )


async def call(fn: Callable[[], Awaitable[T]]) -> T:
    """Run a provider call, mapping Dexa errors to MCP tool errors the model can read."""
    try:
        return await fn()
    except NotFoundError as exc:
        raise ToolError(f"not found: {exc}") from exc
    except DexaError as exc:
        raise ToolError(str(exc)) from exc
