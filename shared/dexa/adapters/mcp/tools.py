"""MCP tools as Dexa tools: `mcp__<server>__<tool>`, plus Claude Code's resource tools."""

from __future__ import annotations

import json
import logging
import shlex
from typing import Any

import mcp.types as types

from dexa.core import tracing
from dexa.core.errors import DexaError, ToolError
from dexa.core.events import EventType
from dexa.core.ports import ToolSpec
from dexa.core.tools import ToolContext, ToolOutput

from .connection import ServerUnavailableError
from .gate import McpCall, ToolHints
from .host import McpHost
from .results import cap, render_call, resource_text

logger = logging.getLogger(__name__)

MAX_DESCRIPTION = 2048


class McpTool:
    """One tool of one MCP server. Calls pass the gate (staging policy) before they can reach the server."""

    def __init__(
        self, manager: McpHost, server: str, tool: types.Tool, exposed_name: str, *, deferred: bool = False
    ) -> None:
        self.manager = manager
        self.server = server
        self.tool = tool.name
        self.hints = ToolHints.from_wire(tool.annotations, tool.meta)
        description = tool.description or tool.title or self.hints.title or tool.name
        self.schema: dict[str, Any] = (
            dict(tool.input_schema) if tool.input_schema else {"type": "object", "properties": {}}
        )
        self.deferred = deferred
        if deferred:
            # Listed by name: the first call checks its input against the real schema and loads the server's.
            description = _first_sentence(description) + " (Parameters load on first use.)"
            schema: dict[str, Any] = {"type": "object", "additionalProperties": True}
        else:
            schema = self.schema
        if len(description) > MAX_DESCRIPTION:
            description = description[: MAX_DESCRIPTION - 1] + "…"
        self.spec = ToolSpec(name=exposed_name, description=description, input_schema=schema)
        # The engine runs read-only tools concurrently and skips their checkpoints; that is all the hint grants.
        self.read_only = self.hints.read_only

    def _call(self, tool_input: dict[str, Any]) -> McpCall:
        config = self.manager.connection(self.server).server
        return McpCall(
            server=self.server,
            tool=self.tool,
            exposed_name=self.spec.name,
            arguments=dict(tool_input),
            hints=self.hints,
            scope=config.scope,
            trusted=config.trusted,
            trusted_reads=config.trusted_reads,
            kind=config.kind,
            integration_id=config.integration_id,
            origin=shlex.join([config.command, *config.args]) if config.command else config.url,
        )

    async def held(self, tool_input: dict[str, Any], *, org_id: str, session_id: str) -> bool:
        """True when the gate will stage, auto-apply or deny this call: it never reaches the server on the model's
        word, so the turn engine does not ask a tool permission first (a deny rule still denies)."""
        try:
            return await self.manager.gate.held(self._call(tool_input), org_id=org_id, session_id=session_id)
        except DexaError:
            logger.exception("could not classify %s before its permission check", self.spec.name)
            return False  # the ordinary permission prompt applies; the gate still decides when it runs

    async def run(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        manager = self.manager
        manager.bind_emit(ctx.emit)
        conn = manager.connection(self.server)
        config = conn.server
        call = self._call(tool_input)
        if self.deferred:  # before the gate: nothing is staged with input the tool would refuse
            try:
                await manager.expand(self.server)
            except ToolError as exc:
                return ToolOutput(content=str(exc), is_error=True, data={"server": self.server, "error": exc.code})
            problem = _input_problem(self.schema, tool_input)
            if problem is not None:
                return ToolOutput(
                    is_error=True,
                    content=f"{self.spec.name} was not run: {problem}. Its input schema (now loaded): "
                    + json.dumps(self.schema),
                )
        try:
            gated = await manager.gate.check(call, ctx)
        except DexaError as exc:
            # Fail closed: if the runtime cannot decide or stage, the call never reaches the server.
            logger.exception("staging gate failed for %s", self.spec.name)
            return ToolOutput(
                is_error=True,
                content=f"{self.spec.name} was not run: Dexa could not stage it for review ({exc}). Nothing was sent.",
            )
        if gated is not None:
            return gated

        async def progress(value: float, total: float | None, message: str | None) -> None:
            await ctx.emit(
                EventType.TOOL_OUTPUT,
                {
                    "tool_use_id": ctx.tool_use_id,
                    "kind": "progress",
                    "server": self.server,
                    "progress": value,
                    "total": total,
                    "message": message,
                },
            )

        timeout = config.timeout_s or manager.limits.tool_timeout_s
        # OpenTelemetry's MCP conventions: the method and tool name; which server is ours to add.
        attrs = {"mcp.method.name": "tools/call", "gen_ai.tool.name": self.tool, "dexa.mcp.server": self.server}
        try:
            with tracing.span(f"tools/call {self.tool}", attrs):
                result = await conn.call_tool(self.tool, tool_input, timeout_s=timeout, progress=progress)
        except ServerUnavailableError as exc:
            return ToolOutput(content=str(exc), is_error=True, data={"server": self.server, "error": exc.code})
        except ToolError as exc:
            return ToolOutput(content=str(exc), is_error=True, data={"server": self.server, "error": exc.code})
        limit = self.hints.max_result_chars
        if limit is not None:
            limit = min(limit, manager.limits.max_result_chars_ceiling)
        rendered = render_call(result, max_tokens=manager.limits.max_output_tokens, max_chars=limit)
        if rendered.tokens > manager.limits.warn_output_tokens:
            await ctx.emit(
                EventType.WARNING,
                {
                    "source": "mcp",
                    "server": self.server,
                    "tool_use_id": ctx.tool_use_id,
                    "message": f"{self.spec.name} returned about {rendered.tokens} tokens"
                    + (" (truncated)" if rendered.truncated else ""),
                },
            )
        return ToolOutput(
            content=rendered.text,
            is_error=rendered.is_error,
            data={"server": self.server, "tool": self.tool, **rendered.data},
        )


def _first_sentence(text: str, limit: int = 200) -> str:
    line = text.strip().split("\n", 1)[0]
    head = line.split(". ", 1)[0]
    return head if len(head) <= limit else head[: limit - 1] + "…"


def _input_problem(schema: dict[str, Any], tool_input: dict[str, Any]) -> str | None:
    """Why the input does not fit the tool's schema, or None (an unusable schema is left to the server)."""
    import jsonschema

    try:
        jsonschema.validate(tool_input, schema)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        return f"invalid input{' at ' + where if where else ''}: {exc.message}"
    except jsonschema.SchemaError:
        return None
    return None


_SERVER_PROP = {"type": "string", "description": "MCP server name (omit for all servers)"}


class ListMcpResourcesTool:
    read_only = True

    def __init__(self, manager: McpHost) -> None:
        self.manager = manager
        self.spec = ToolSpec(
            name="ListMcpResourcesTool",
            description="List resources (documents, records, files) that connected MCP servers expose. "
            "Read one with ReadMcpResourceTool.",
            input_schema={"type": "object", "properties": {"server": _SERVER_PROP}},
        )

    async def run(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        self.manager.bind_emit(ctx.emit)
        server = tool_input.get("server")
        if server is not None and not self.manager.has_server(str(server)):
            return ToolOutput(
                content=f"No MCP server named {server!r}. Servers: {', '.join(self.manager.names())}", is_error=True
            )
        listing, errors = await self.manager.list_resources(None if server is None else str(server))
        text = json.dumps(listing, indent=1) if listing else "No resources found."
        if errors:
            text += "\n\nUnavailable: " + "; ".join(errors)
        capped, _ = cap(text, max_tokens=self.manager.limits.max_output_tokens)
        return ToolOutput(content=capped, data={"resources": listing})


class ReadMcpResourceTool:
    read_only = True

    def __init__(self, manager: McpHost) -> None:
        self.manager = manager
        self.spec = ToolSpec(
            name="ReadMcpResourceTool",
            description="Read one resource from an MCP server by its URI.",
            input_schema={
                "type": "object",
                "properties": {
                    "server": {"type": "string", "description": "MCP server name"},
                    "uri": {"type": "string", "description": "Resource URI"},
                },
                "required": ["server", "uri"],
            },
        )

    async def run(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        self.manager.bind_emit(ctx.emit)
        server, uri = str(tool_input.get("server", "")), str(tool_input.get("uri", ""))
        if not self.manager.has_server(server):
            return ToolOutput(
                content=f"No MCP server named {server!r}. Servers: {', '.join(self.manager.names())}", is_error=True
            )
        conn = self.manager.connection(server)
        try:
            result = await conn.request(f"resources/read {uri}", lambda c: c.read_resource(uri))
        except ToolError as exc:
            return ToolOutput(content=str(exc), is_error=True)
        text = "\n\n".join(resource_text(c) for c in result.contents) or "(empty resource)"
        capped, _ = cap(text, max_tokens=self.manager.limits.max_output_tokens)
        return ToolOutput(content=capped, data={"server": server, "uri": uri})
