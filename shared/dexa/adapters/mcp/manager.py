"""The per-session MCP client manager: connections, tool registration (eager or lazy), resources, prompts."""

from __future__ import annotations

import asyncio
import json
import logging
import shlex
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import mcp.types as types

from dexa.core.errors import ConfigError, ToolError
from dexa.core.events import EventType
from dexa.core.tools import Emit, Tool, ToolRegistry

from .config import ConfigProblem, ServerConfig
from .connection import McpConnection
from .gate import CallGate, PassThroughGate
from .host import McpHost
from .lazy import DirectCallTool, ListSourcesTool, LoadSourceToolsTool
from .names import McpLimits, dedupe, sanitize, tool_name
from .results import render_prompt
from .tools import ListMcpResourcesTool, McpTool, ReadMcpResourceTool
from .transports import CommandWrapper, HeadersProvider

logger = logging.getLogger(__name__)

# Claude Code's init `source` per scope (`--mcp-config` servers are "dynamic").
_SOURCES = {"session": "dynamic", "org": "managed"}
UnconnectedFn = Callable[[], Awaitable[list[dict[str, Any]]]]


class McpManager:
    def __init__(
        self,
        servers: Sequence[ServerConfig],
        *,
        emit: Emit | None = None,
        wrapper: CommandWrapper | None = None,
        headers_provider: HeadersProvider | None = None,
        gate: CallGate | None = None,
        limits: McpLimits | None = None,
        base_env: Mapping[str, str] | None = None,
        platform_secrets: Iterable[str] = (),
        problems: Sequence[ConfigProblem] = (),
        unconnected: UnconnectedFn | None = None,
    ) -> None:
        self.limits = limits or McpLimits()
        self.gate: CallGate = gate or PassThroughGate()
        self.emit = emit
        self.problems = list(problems)
        self.registry: ToolRegistry | None = None
        self.loaded: set[str] = set()
        self._unconnected = unconnected
        # Called (sync) by aclose(); the integration layer unregisters the session's executor route here.
        self.on_close: list[Callable[[], None]] = []
        self._taken: set[str] = set()
        self._expanded: set[str] = set()
        self._tools: dict[str, list[McpTool]] = {}
        self._refreshes: set[asyncio.Task[None]] = set()
        secrets = frozenset(s for s in platform_secrets if s)
        self._connections: dict[str, McpConnection] = {}
        for server in servers:
            if server.name in self._connections:
                raise ConfigError(f"duplicate MCP server name {server.name!r}")
            self._connections[server.name] = conn = McpConnection(
                server,
                emit=self._emit,
                wrapper=wrapper,
                headers_provider=headers_provider,
                startup_timeout_s=self.limits.startup_timeout_s,
                base_env=base_env,
                platform_secrets=secrets,
            )

            conn.on_tools_changed = lambda name=server.name: self._tools_changed(name)

    # ------------------------------------------------------------ plumbing

    async def _emit(self, type_: str, data: Mapping[str, Any]) -> None:
        if self.emit is not None:
            await self.emit(type_, data)

    def bind_emit(self, emit: Emit) -> None:
        """Tools call this with the session's emitter so server events reach the log even without a factory emit."""
        if self.emit is None:
            self.emit = emit

    def attach(self, registry: ToolRegistry) -> None:
        """Where lazily loaded tools are added (the session's registry)."""
        if self.registry is not registry:
            registry.add_resolver(self.resolve)
        self.registry = registry
        for tools in self._tools.values():
            for tool in tools:
                registry.add(tool)

    def _tools_changed(self, name: str) -> None:
        """A loaded source changed its tools: re-list in the background so the next request sees them."""
        if name not in self.loaded:
            return
        task = asyncio.get_running_loop().create_task(self._refresh(name))
        self._refreshes.add(task)
        task.add_done_callback(self._refreshes.discard)

    async def _refresh(self, name: str) -> None:
        try:
            await self.server_tools(name)
        except ToolError as exc:
            logger.info("could not refresh tools of %s: %s", name, exc)

    def loaded_tools(self, name: str) -> list[McpTool]:
        return list(self._tools.get(name, []))

    def names(self) -> list[str]:
        return list(self._connections)

    def has_server(self, name: str) -> bool:
        return name in self._connections

    def connection(self, name: str) -> McpConnection:
        try:
            return self._connections[name]
        except KeyError:
            raise ToolError(f"No MCP server named {name!r}") from None

    # ------------------------------------------------------------ tools

    async def server_tools(self, name: str) -> list[McpTool]:
        """Wrap a server's tools, reusing exposed names across reconnects so the model's view stays stable."""
        conn = self.connection(name)
        listed = await conn.list_tools()
        previous = {t.tool: t for t in self._tools.get(name, [])}
        size = sum(len(json.dumps(t.input_schema or {})) + len(t.description or "") for t in listed)
        deferred = name not in self._expanded and size > self.limits.eager_schema_chars
        wrapped: list[McpTool] = []
        for tool in listed:
            old = previous.get(tool.name)
            if old is not None:
                exposed = old.spec.name
            else:
                exposed = dedupe(tool_name(name, tool.name), self._taken)
                self._taken.add(exposed)
            wrapped.append(McpTool(self, name, tool, exposed, deferred=deferred))
        if self.registry is not None:
            for old in previous.values():
                self.registry.remove(old.spec.name)
            for tool in wrapped:
                self.registry.add(tool)
        self._tools[name] = wrapped
        return wrapped

    async def expand(self, name: str) -> None:
        """Send a large server's full schemas from the next request on (its tools were listed by name only)."""
        if name not in self._expanded:
            self._expanded.add(name)
            await self.server_tools(name)

    async def load_sources(self, names: Sequence[str]) -> dict[str, dict[str, Any]]:
        async def one(name: str) -> tuple[str, dict[str, Any]]:
            try:
                tools = await self.server_tools(name)
            except ToolError as exc:
                return name, {"error": str(exc), "tools": []}
            self.loaded.add(name)
            return name, {"tools": [t.spec.name for t in tools]}

        results = await asyncio.gather(*(one(n) for n in dict.fromkeys(names)))
        return dict(results)

    async def initial_tools(
        self, *, lazy: bool = True, preloaded: Iterable[str] = (), lazy_scopes: Collection[str] | None = None
    ) -> list[Tool]:
        """The tools a session starts with: eager servers' tools, the lazy meta tools, the resource tools.

        With `lazy`, servers whose scope is in `lazy_scopes` (every server when None) wait behind LoadSourceTools;
        the rest connect now, concurrently, and their tools are listed with full schemas. A lazy server's tools are
        still callable by name: the registry resolver (`attach`) loads the server on the first direct call.
        A server that fails to start is reported (an ERROR event, its status) but never aborts the session.
        """
        held = set(preloaded)

        def is_lazy(name: str, conn: McpConnection) -> bool:
            if not lazy or conn.server.always_load or name in held:
                return False
            return lazy_scopes is None or conn.server.scope in lazy_scopes

        eager = [n for n, c in self._connections.items() if not is_lazy(n, c)]
        lazy_names = [n for n in self._connections if n not in eager]
        tools: list[Tool] = []
        loaded = await self.load_sources(eager) if eager else {}
        for name, result in loaded.items():
            if result.get("error"):
                await self._emit(EventType.ERROR, {"source": "mcp", "server": name, "message": result["error"]})
            tools += self._tools.get(name, [])
        if lazy_names:
            summaries = {n: self._connections[n].server.description for n in lazy_names}
            tools.append(ListSourcesTool(self))
            tools.append(LoadSourceToolsTool(self, lazy_names, summaries))
        elif lazy and self._unconnected is not None:
            tools.append(ListSourcesTool(self))
        if self._connections:
            tools += [ListMcpResourcesTool(self), ReadMcpResourceTool(self)]
        return tools

    def statuses(self) -> list[dict[str, str]]:
        """Claude Code's init `mcp_servers`: connected, failed, needs-auth, or pending (not started yet)."""
        out: list[dict[str, str]] = []
        for name, conn in self._connections.items():
            if conn.state == "connected":
                status = "connected"
            elif conn.state == "failed":
                status = "needs-auth" if conn.needs_auth else "failed"
            else:
                status = "pending"
            out.append({"name": name, "status": status, "source": _SOURCES.get(conn.server.scope, conn.server.scope)})
        return out

    def failures(self) -> list[dict[str, str]]:
        """Servers that could not start, with the cause (for stderr and `mcp_server_errors`)."""
        return [{"name": n, "message": c.failure_cause()} for n, c in self._connections.items() if c.state == "failed"]

    def resolve(self, name: str) -> Tool | None:
        """A tool for `mcp__<server>__<tool>` whose server has not listed it yet; it loads the server when run."""
        if not name.startswith("mcp__"):
            return None
        server = next(
            (n for n in sorted(self._connections, key=len, reverse=True) if name.startswith(f"mcp__{sanitize(n)}__")),
            None,
        )
        if server is None or self._connections[server].state == "closed":
            return None
        return DirectCallTool(self, server, name)

    async def describe_sources(self, *, connect: bool = False, timeout_s: float = 10.0) -> list[dict[str, Any]]:
        async def one(name: str, conn: McpConnection) -> dict[str, Any]:
            info: dict[str, Any] = {
                "name": name,
                "status": conn.state,
                "loaded": name in self.loaded,
                "description": conn.server.description or _first_line(conn.instructions),
                "transport": conn.server.transport,
                "scope": conn.server.scope,
            }
            if connect:
                try:
                    listed = await asyncio.wait_for(conn.list_tools(), timeout_s)
                    info["tools"] = [t.name for t in listed]
                    info["description"] = info["description"] or _first_line(conn.instructions)
                except (ToolError, TimeoutError) as exc:
                    info["error"] = str(exc) or "timed out"
                info["status"] = conn.state
            if conn.last_error and conn.state != "connected":
                info["error"] = conn.last_error
            return info

        return list(await asyncio.gather(*(one(n, c) for n, c in self._connections.items())))

    async def unconnected_sources(self) -> list[dict[str, Any]]:
        if self._unconnected is None:
            return []
        try:
            return await self._unconnected()
        except Exception:  # the hint is advisory; a registry failure must not fail ListSources
            logger.exception("could not list unconnected integrations")
            return []

    # ------------------------------------------------------------ resources and prompts

    async def list_resources(self, server: str | None = None) -> tuple[list[dict[str, Any]], list[str]]:
        names = [server] if server else list(self._connections)
        out: list[dict[str, Any]] = []
        errors: list[str] = []
        for name in names:
            conn = self._connections[name]
            try:
                client = await conn.ensure()
                if client.server_capabilities.resources is None:
                    continue
                listed = await conn.request("resources/list", lambda c: c.list_resources())
                templates = await conn.request("resources/templates/list", lambda c: c.list_resource_templates())
            except ToolError as exc:
                errors.append(str(exc))
                continue
            out += [
                {"server": name, "uri": r.uri, "name": r.name, "mimeType": r.mime_type, "description": r.description}
                for r in listed.resources
            ]
            out += [
                {"server": name, "uriTemplate": t.uri_template, "name": t.name, "description": t.description}
                for t in templates.resource_templates
            ]
        return out, errors

    async def list_prompts(self, server: str | None = None) -> list[dict[str, Any]]:
        names = [server] if server else list(self._connections)
        out: list[dict[str, Any]] = []
        for name in names:
            conn = self._connections[name]
            client = await conn.ensure()
            if client.server_capabilities.prompts is None:
                continue
            listed = await conn.request("prompts/list", lambda c: c.list_prompts())
            out += [
                {
                    "server": name,
                    "name": p.name,
                    "command": f"/{tool_name(name, p.name)}",
                    "description": p.description,
                    "arguments": [{"name": a.name, "required": bool(a.required)} for a in p.arguments or []],
                }
                for p in listed.prompts
            ]
        return out

    async def get_prompt(
        self, server: str, name: str, arguments: Mapping[str, str] | None = None
    ) -> list[dict[str, str]]:
        conn = self.connection(server)
        result: types.GetPromptResult = await conn.request(
            f"prompts/get {name}", lambda c: c.get_prompt(name, dict(arguments or {}))
        )
        return render_prompt(result)

    async def expand_prompt_command(self, text: str) -> str | None:
        """`/mcp__server__prompt arg1 arg2` -> the prompt's text (positional args, as Claude Code); else None."""
        command, _, rest = text.strip().partition(" ")
        server = next((n for n in self._connections if command.startswith(f"/mcp__{sanitize(n)}__")), None)
        if server is None:
            return None
        prompts = [p for p in await self.list_prompts(server) if p["command"] == command]
        if not prompts:
            return None
        values = shlex.split(rest)
        args = {a["name"]: v for a, v in zip(prompts[0]["arguments"], values, strict=False)}
        messages = await self.get_prompt(server, prompts[0]["name"], args)
        return "\n\n".join(m["text"] for m in messages)

    # ------------------------------------------------------------ lifecycle

    async def aclose(self) -> None:
        for callback in self.on_close:
            callback()
        self.on_close.clear()
        for task in list(self._refreshes):
            task.cancel()
        await asyncio.gather(*(c.aclose() for c in self._connections.values()), return_exceptions=True)


def _first_line(text: str, limit: int = 120) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


if TYPE_CHECKING:
    # pyright checks that McpManager still gives its tools what they use of it.
    _hosts_the_tools: type[McpHost] = McpManager
