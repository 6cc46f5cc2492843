"""Who performs an approved output: the control plane, never the agent's own connection to a managed server."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from dexa.core.errors import ToolError

from .models import PendingOutput

logger = logging.getLogger(__name__)

# Calls one tool and returns {"content": str, "is_error": bool, "structured": ...}.
CallFn = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


class OutputExecutor(Protocol):
    async def execute(self, output: PendingOutput, arguments: dict[str, Any]) -> dict[str, Any]:
        """Perform the pinned call once. Raises ToolError when it could not be performed."""
        ...


class RoutingExecutor:
    """Routes by server: managed servers to their control-plane instance, others to a live session manager."""

    def __init__(self) -> None:
        self._routes: dict[tuple[str, str], CallFn] = {}
        self._fallbacks: list[Callable[[PendingOutput], CallFn | None]] = []

    def register(self, org_id: str, server: str, call: CallFn) -> None:
        self._routes[(org_id, server)] = call

    def add_fallback(self, resolver: Callable[[PendingOutput], CallFn | None]) -> None:
        self._fallbacks.append(resolver)

    async def execute(self, output: PendingOutput, arguments: dict[str, Any]) -> dict[str, Any]:
        call = self._routes.get((output.org_id, output.server))
        if call is None:
            for resolver in self._fallbacks:
                call = resolver(output)
                if call is not None:
                    break
        if call is None:
            raise ToolError(
                f"no executor for MCP server {output.server!r} in org {output.org_id}: the session that "
                "staged this output is no longer running its servers; re-run the task to stage it again"
            )
        result = await call(output.tool, arguments)
        if result.get("is_error"):
            raise ToolError(f"{output.server}.{output.tool} failed: {result.get('content', '')}")
        return result


def result_dict(content: str, *, is_error: bool, structured: Any = None) -> dict[str, Any]:
    return {"content": content, "is_error": is_error, "structured": structured}


class LiveSessions:
    """Process-local map of session managers, so outputs staged from project servers can be executed."""

    def __init__(self) -> None:
        self._calls: dict[str, Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any]]]] = {}

    def register(self, session_id: str, call: Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any]]]) -> None:
        self._calls[session_id] = call

    def unregister(self, session_id: str) -> None:
        self._calls.pop(session_id, None)

    def resolver(self, output: PendingOutput) -> CallFn | None:
        call = self._calls.get(output.session_id)
        if call is None:
            return None

        async def bound(tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
            return await call(output.server, tool, arguments)

        return bound


def structured_of(result: Mapping[str, Any]) -> dict[str, Any]:
    value = result.get("structured")
    return dict(value) if isinstance(value, Mapping) else {}  # pyright: ignore[reportUnknownArgumentType]
