"""Lazy tool loading: the model sees a compact list of sources, then loads the schemas of the ones it needs.

Eagerly sending every schema of six business sources costs thousands of tokens per request; the two meta tools
cost a few hundred, and only the chosen sources' schemas are added to the registry afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dexa.core.ports import ToolSpec
from dexa.core.tools import ToolContext, ToolOutput

from .host import McpHost

LOADED_NAMESPACE = "mcp_loaded"
# For the system prompt of sessions that have lazily loaded sources.
SOURCE_SELECTION_PROMPT = (
    "Data sources (calendar, CRM, email, chat, tickets, code, databases) are reached through tools you load on "
    "demand. When a task names no source, call ListSources, choose the connected source(s) that fit, and load "
    "them with LoadSourceTools. If more than one connected source could be meant, ask the user which one. If the "
    "task needs a source that is not connected, say which one and how to connect it (ListSources shows the "
    "command) instead of guessing. Emails, invites, CRM updates and posts are staged for a human to approve; "
    "mention staged items in your summary."
)


SOURCE_TOOLS_ENV = "DEXA_MCP_SOURCE_TOOLS"
# Dexa's managed integrations (calendar, CRM, email...) are many and large: they wait behind LoadSourceTools.
_LAZY_BY_DEFAULT = frozenset({"integration", "managed"})


def source_tools_mode(env: Mapping[str, str]) -> tuple[bool, frozenset[str] | None]:
    """`(lazy, lazy_scopes)` for `McpManager.initial_tools`, from DEXA_MCP_SOURCE_TOOLS.

    - `auto` (default): servers from Claude Code config (`--mcp-config`, `.mcp.json`, `~/.claude.json`, org) connect
      at start and list their tools with full schemas, as in Claude Code, so its configs just work; Dexa's managed
      integrations stay behind ListSources/LoadSourceTools.
    - `on`: every server waits behind LoadSourceTools (fewest tokens; direct calls by name still load the server).
    - `off`: no meta tools; every server connects at start.
    """
    mode = env.get(SOURCE_TOOLS_ENV, "auto").strip().lower() or "auto"
    if mode in ("off", "0", "false", "no"):
        return False, None
    if mode in ("on", "1", "true", "yes", "all"):
        return True, None
    return True, _LAZY_BY_DEFAULT


class ListSourcesTool:
    read_only = True

    def __init__(self, manager: McpHost) -> None:
        self.manager = manager
        self.spec = ToolSpec(
            name="ListSources",
            description="List the data sources (calendar, CRM, email, chat, tickets, code, databases...) this "
            "session can use, with their tools, and integrations that are not connected yet.",
            input_schema={"type": "object", "properties": {}},
        )

    async def run(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        self.manager.bind_emit(ctx.emit)
        sources = await self.manager.describe_sources(connect=True)
        lines: list[str] = []
        for src in sources:
            state = "loaded" if src["loaded"] else src["status"]
            line = f"- {src['name']} [{state}]"
            if src.get("description"):
                line += f": {src['description']}"
            if src.get("tools"):
                line += f"\n  tools: {', '.join(src['tools'])}"
            if src.get("error"):
                line += f"\n  error: {src['error']}"
            lines.append(line)
        missing = await self.manager.unconnected_sources()
        if missing:
            lines.append("\nNot connected (tell the user how to connect them if the task needs one):")
            lines += [f"- {m['name']}: {m.get('description', '')} — connect with: {m['connect']}" for m in missing]
        if not lines:
            lines = ["No sources are connected."]
        lines.append("\nCall LoadSourceTools with the source names you need before using their tools.")
        return ToolOutput(content="\n".join(lines), data={"sources": sources, "not_connected": missing})


class LoadSourceToolsTool:
    # It changes the tool registry, not the workspace: safe to run alongside other read-only tools.
    read_only = True

    def __init__(self, manager: McpHost, names: list[str], summaries: dict[str, str]) -> None:
        self.manager = manager
        catalogue = "; ".join(f"{n} ({summaries[n]})" if summaries.get(n) else n for n in names)
        self.spec = ToolSpec(
            name="LoadSourceTools",
            description="Load the tools of one or more connected sources so you can call them "
            f"(named mcp__<source>__<tool>). Sources: {catalogue}.",
            input_schema={
                "type": "object",
                "properties": {
                    "sources": {"type": "array", "items": {"type": "string"}, "description": "Source names"},
                },
                "required": ["sources"],
            },
        )

    async def run(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        self.manager.bind_emit(ctx.emit)
        raw = tool_input.get("sources")
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list) or not raw:
            return ToolOutput(content="sources must be a non-empty list of source names", is_error=True)
        wanted = [str(s) for s in raw]  # pyright: ignore[reportUnknownVariableType]
        unknown = [s for s in wanted if not self.manager.has_server(s)]
        if unknown:
            return ToolOutput(
                is_error=True,
                content=f"Unknown source(s): {', '.join(unknown)}. "
                f"Connected sources: {', '.join(self.manager.names())}.",
            )
        loaded = await self.manager.load_sources(wanted)
        doc = await ctx.kv.kv_get(LOADED_NAMESPACE, ctx.session_id, org_id=ctx.org_id) or {"sources": []}
        doc["sources"] = sorted(set(doc["sources"]) | {s for s, r in loaded.items() if r.get("tools")})
        await ctx.kv.kv_put(LOADED_NAMESPACE, ctx.session_id, doc, org_id=ctx.org_id)
        lines: list[str] = []
        failed = False
        for name, result in loaded.items():
            if result.get("error"):
                failed = True
                lines.append(f"{name}: could not load ({result['error']})")
            else:
                lines.append(f"{name}: {len(result['tools'])} tools available: {', '.join(result['tools'])}")
        return ToolOutput(content="\n".join(lines), is_error=failed and len(loaded) == 1, data={"loaded": loaded})


class DirectCallTool:
    """`mcp__<server>__<tool>` called before its server listed it: load the server, then run the real tool.

    The permission engine judges it by the name the model used, as for any MCP tool; loading adds the server's
    tools to the registry, so from the next request on the model sees their schemas.
    """

    read_only = False

    def __init__(self, manager: McpHost, server: str, name: str) -> None:
        self.manager = manager
        self.server = server
        self.spec = ToolSpec(
            name=name,
            description=f"A tool of the MCP server {server} (loaded on first use).",
            input_schema={"type": "object", "properties": {}, "additionalProperties": True},
        )

    async def held(self, tool_input: dict[str, Any], *, org_id: str, session_id: str) -> bool:
        """As McpTool.held, once the server is loaded; a server that cannot load gets the ordinary prompt."""
        loaded = (await self.manager.load_sources([self.server]))[self.server]
        tool = next((t for t in self.manager.loaded_tools(self.server) if t.spec.name == self.spec.name), None)
        if loaded.get("error") or tool is None:
            return False
        return await tool.held(tool_input, org_id=org_id, session_id=session_id)

    async def run(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        self.manager.bind_emit(ctx.emit)
        loaded = (await self.manager.load_sources([self.server]))[self.server]
        if loaded.get("error"):
            return ToolOutput(content=f"{self.spec.name} was not run: {loaded['error']}", is_error=True)
        tool = next((t for t in self.manager.loaded_tools(self.server) if t.spec.name == self.spec.name), None)
        if tool is None:
            return ToolOutput(
                is_error=True,
                content=f"No such tool: {self.spec.name}. MCP server {self.server} has: {', '.join(loaded['tools'])}",
            )
        return await tool.run(tool_input, ctx)
