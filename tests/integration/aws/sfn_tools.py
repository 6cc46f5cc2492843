"""Tools with observable behaviour for the Step Functions tests (counted, concurrent, journaled, blocking)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from dexa.core.ports import ToolSpec
from dexa.core.tools import ToolContext, ToolOutput

_SCHEMA = {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}


class PeekTool:
    """Read-only. Each run waits (bounded) for a second run to overlap, so parallel Map items are observable."""

    read_only = True

    def __init__(self) -> None:
        self.spec = ToolSpec(name="Peek", description="look at a path", input_schema=_SCHEMA)
        self.runs: list[str] = []
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()

    async def run(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        with self._lock:
            self.runs.append(tool_input["path"])
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        deadline = time.monotonic() + 2.0
        # Map items run on different threads and event loops, so an asyncio.Event could not connect them.
        while self.max_active < 2 and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        with self._lock:
            self.active -= 1
        return ToolOutput(content=f"peeked at {tool_input['path']}")


class JournaledTool:
    """Side-effecting; keeps a journal so `recover` can report a run that finished before its step died."""

    read_only = False

    def __init__(self) -> None:
        self.spec = ToolSpec(name="Deploy", description="deploy something", input_schema=_SCHEMA)
        self.runs = 0
        self.journal: dict[str, str] = {}

    async def run(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        self.runs += 1
        self.journal[ctx.tool_use_id] = f"deployed {tool_input['path']}"
        return ToolOutput(content=self.journal[ctx.tool_use_id])

    async def recover(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput | None:
        done = self.journal.get(ctx.tool_use_id)
        return None if done is None else ToolOutput(content=done)


class BlockingTool:
    """Runs until cancelled (or 30 s): stands in for a long command the user cancels."""

    read_only = False

    def __init__(self) -> None:
        self.spec = ToolSpec(name="Build", description="a long build", input_schema=_SCHEMA)
        self.started = threading.Event()
        self.cancelled = threading.Event()
        self.finished = False

    async def run(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        self.started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        self.finished = True
        return ToolOutput(content="built")
