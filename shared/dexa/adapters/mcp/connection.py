"""One live connection to one MCP server: connect on demand, detect a crash, reconnect on next use.

The SDK's `Client` must be entered and exited in the same task (anyio cancel scopes), so each connection has
an owner task that holds it open; calls are made from the callers' tasks and raced against the owner's death
so a dead server can never hang a tool call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from typing import IO, Any, Literal, TypeVar

import anyio
import httpx2
import mcp.types as types
from mcp import Client, MCPError
from pydantic import ValidationError

from dexa.core.errors import ConfigError, ToolError, ToolTimeoutError
from dexa.core.events import EventType

from .config import ServerConfig
from .transports import CommandWrapper, HeadersProvider, open_transport

logger = logging.getLogger(__name__)

T = TypeVar("T")
State = Literal["idle", "connecting", "connected", "failed", "closed"]
SessionEmit = Callable[[str, Mapping[str, Any]], Awaitable[None]]
ProgressFn = Any  # the SDK's ProgressFnT: async (progress, total, message) -> None
MCP_NOTIFICATION = "mcp.notification"
CONNECTION_CLOSED = -32000
REQUEST_TIMEOUT = -32001
_AUTH_FAILURE = re.compile(r"\b(401|403)\b|unauthori[sz]ed|forbidden", re.IGNORECASE)
# Errors that mean the transport is gone, not that one request failed.
_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    httpx2.TransportError,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    anyio.EndOfStream,
    ConnectionError,
    BrokenPipeError,
)


class ServerUnavailableError(ToolError):
    """The MCP server is not running (crashed, never started, or unreachable)."""

    code = "mcp_server_unavailable"


class McpConnection:
    def __init__(
        self,
        server: ServerConfig,
        *,
        emit: SessionEmit | None = None,
        wrapper: CommandWrapper | None = None,
        headers_provider: HeadersProvider | None = None,
        startup_timeout_s: float = 30.0,
        base_env: Mapping[str, str] | None = None,
        platform_secrets: frozenset[str] = frozenset(),
        client_name: str = "dexa",
    ) -> None:
        self.server = server
        self.state: State = "idle"
        self.last_error = ""
        self.generation = 0
        self.crashes = 0
        self.connected_at = 0.0
        self.protocol_version = ""
        self.instructions = ""
        self._emit = emit
        self._wrapper = wrapper
        self._headers = headers_provider
        self._startup_timeout = startup_timeout_s
        self._base_env = base_env
        self._secrets = platform_secrets
        self._client_name = client_name
        self._client: Client | None = None
        self._owner: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._dead = asyncio.Event()
        self._lock = asyncio.Lock()
        self._errlog: IO[str] | None = None
        self.tools_cache: list[types.Tool] | None = None
        # Called when the server announces a new tool list (the manager refreshes loaded sources).
        self.on_tools_changed: Callable[[], None] | None = None

    # ------------------------------------------------------------ lifecycle

    async def ensure(self) -> Client:
        """The connected client, (re)connecting when needed.

        Raises:
            ServerUnavailableError: the server could not be started or reached.
        """
        client = self._client
        if client is not None and self.state == "connected" and not self._dead.is_set():
            return client
        async with self._lock:
            if self._client is not None and self.state == "connected" and not self._dead.is_set():
                return self._client
            if self.state == "closed":
                raise ServerUnavailableError(f"MCP server {self.server.name} is closed")
            if self.state == "connected":  # the owner task ended on its own between calls
                await self._crashed(self.generation, "an idle period", self.last_error or "the connection ended")
            return await self._connect()

    async def _connect(self) -> Client:
        await self._reap()
        reconnect = self.generation > 0
        self.generation += 1
        self.state = "connecting"
        self._stop = asyncio.Event()
        self._dead = asyncio.Event()
        ready: asyncio.Future[Client] = asyncio.get_running_loop().create_future()
        if self._errlog is not None:
            self._errlog.close()
            self._errlog = None
        if self.server.transport == "stdio":
            self._errlog = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")
        self._owner = asyncio.create_task(
            self._own(ready, self._stop, self._dead), name=f"mcp:{self.server.name}:{self.generation}"
        )
        try:
            client = await asyncio.wait_for(asyncio.shield(ready), self._startup_timeout)
        except TimeoutError:
            await self._fail(f"did not finish starting within {self._startup_timeout:g}s (MCP_TIMEOUT)")
            raise ServerUnavailableError(self.describe_failure()) from None
        except Exception as exc:
            await self._fail(_describe(exc))
            raise ServerUnavailableError(self.describe_failure()) from exc
        self._client = client
        self.state = "connected"
        self.connected_at = time.time()
        self.protocol_version = client.protocol_version
        self.instructions = client.instructions or ""
        self.tools_cache = None
        if reconnect:
            await self._event(
                EventType.WARNING,
                {"source": "mcp", "server": self.server.name, "message": f"MCP server {self.server.name} reconnected"},
            )
        return client

    async def _own(self, ready: asyncio.Future[Client], stop: asyncio.Event, dead: asyncio.Event) -> None:
        try:
            async with AsyncExitStack() as stack:
                target = await open_transport(
                    self.server,
                    stack,
                    wrapper=self._wrapper,
                    headers_provider=self._headers,
                    errlog=self._errlog,
                    base_env=self._base_env,
                    platform_secrets=self._secrets,
                )
                client = Client(
                    target,
                    message_handler=self._on_message,
                    client_info=types.Implementation(name=self._client_name, version="1"),
                )
                await stack.enter_async_context(client)
                if not ready.done():
                    ready.set_result(client)
                await stop.wait()
        except asyncio.CancelledError:
            if not ready.done():
                ready.set_exception(ServerUnavailableError("connection attempt cancelled"))
            raise
        except BaseException as exc:  # the owner task is a boundary: any failure means "server gone"
            if not ready.done():
                ready.set_exception(exc if isinstance(exc, Exception) else RuntimeError(str(exc)))
            elif not stop.is_set():
                logger.info("MCP server %s connection ended: %s", self.server.name, _describe(exc))
                self.last_error = _describe(exc)
        finally:
            dead.set()

    async def _reap(self) -> None:
        owner, self._owner = self._owner, None
        self._client = None
        if owner is None:
            return
        self._stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(owner), 5.0)
        except (TimeoutError, Exception):  # a wedged transport must not block reconnecting
            owner.cancel()
            with contextlib.suppress(BaseException):
                await owner

    async def _fail(self, reason: str) -> None:
        self.state = "failed"
        self.last_error = reason
        await self._reap()

    async def aclose(self) -> None:
        self.state = "closed"
        await self._reap()
        if self._errlog is not None:
            self._errlog.close()
            self._errlog = None

    # ------------------------------------------------------------ calls

    async def call_tool(
        self,
        name: str,
        arguments: Mapping[str, Any],
        *,
        timeout_s: float | None = None,
        progress: ProgressFn | None = None,
    ) -> types.CallToolResult:
        """Call a tool; transport loss marks the server dead (next use reconnects).

        Raises:
            ServerUnavailableError: the server is down or died during the call.
            ToolTimeoutError: no answer within timeout_s (the connection stays up).
            ToolError: the server rejected the request or sent a malformed result.
        """
        return await self.request(
            f"tools/call {name}",
            lambda c: c.call_tool(name, dict(arguments), read_timeout_seconds=timeout_s, progress_callback=progress),
            timeout_s=timeout_s,
        )

    async def list_tools(self) -> list[types.Tool]:
        if self.tools_cache is not None and self.state == "connected":
            return self.tools_cache
        tools: list[types.Tool] = []
        cursor: str | None = None
        for _ in range(100):  # a paginator that never ends cannot hang the session
            page = await self.request("tools/list", lambda c, cur=cursor: c.list_tools(cursor=cur))
            tools += page.tools
            cursor = page.next_cursor
            if not cursor:
                break
        self.tools_cache = tools
        return tools

    async def request(self, what: str, fn: Callable[[Client], Awaitable[T]], *, timeout_s: float | None = None) -> T:
        client = await self.ensure()
        dead = self._dead
        generation = self.generation
        task = asyncio.ensure_future(fn(client))
        waiter = asyncio.ensure_future(dead.wait())
        try:
            done, _ = await asyncio.wait(
                {task, waiter},
                timeout=None if timeout_s is None else timeout_s + 5.0,
                return_when=asyncio.FIRST_COMPLETED,
            )
        except asyncio.CancelledError:
            task.cancel()
            raise
        finally:
            waiter.cancel()
        if task not in done:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            if dead.is_set():
                raise await self._crashed(generation, what, "the connection closed")
            raise ToolTimeoutError(f"MCP server {self.server.name}: {what} timed out after {timeout_s:g}s")
        try:
            return task.result()
        except MCPError as exc:
            if exc.error.code == CONNECTION_CLOSED:
                raise await self._crashed(generation, what, exc.error.message) from exc
            if exc.error.code == REQUEST_TIMEOUT:
                raise ToolTimeoutError(f"MCP server {self.server.name}: {what} timed out after {timeout_s}s") from exc
            raise ToolError(f"MCP server {self.server.name} rejected {what}: {exc.error.message}") from exc
        except ValidationError as exc:
            raise ToolError(
                f"MCP server {self.server.name} sent a malformed result for {what}: "
                f"{exc.error_count()} validation error(s)"
            ) from exc
        except _TRANSPORT_ERRORS as exc:
            raise await self._crashed(generation, what, _describe(exc)) from exc
        except ConfigError:
            raise
        except (OSError, RuntimeError) as exc:
            raise await self._crashed(generation, what, _describe(exc)) from exc

    async def _crashed(self, generation: int, what: str, detail: str) -> ServerUnavailableError:
        if generation != self.generation or self.state != "connected":
            return ServerUnavailableError(self.describe_failure())
        self.crashes += 1
        self.state = "failed"
        self.last_error = detail
        tail = self._stderr_tail()
        await self._reap()
        message = (
            f"MCP server {self.server.name} stopped responding during {what} ({detail}).{tail} "
            "Dexa will restart it on the next call."
        )
        await self._event(EventType.ERROR, {"source": "mcp", "server": self.server.name, "message": message})
        return ServerUnavailableError(message)

    @property
    def needs_auth(self) -> bool:
        """The server answered 401/403: it wants credentials (OAuth or a header), not a restart."""
        return self.server.transport in ("http", "sse") and bool(_AUTH_FAILURE.search(self.last_error))

    def failure_cause(self) -> str:
        """One line: why the server is down, with the last line it wrote to stderr (often the real cause)."""
        cause = self.last_error or "unknown error"
        tail = self._stderr_tail().removeprefix(" Server stderr: ").strip().splitlines()
        return f"{cause} ({tail[-1].strip()})" if tail else cause

    def describe_failure(self) -> str:
        return (
            f"MCP server {self.server.name} is unavailable: {self.last_error or 'unknown error'}."
            f"{self._stderr_tail()} Dexa will try to restart it on the next call."
        )

    def _stderr_tail(self, limit: int = 400) -> str:
        log = self._errlog
        if log is None or log.closed:
            return ""
        try:
            log.flush()
            log.seek(0)
            text = log.read()[-limit:].strip()
        except (OSError, ValueError):
            return ""
        return f" Server stderr: {text}" if text else ""

    # ------------------------------------------------------------ notifications

    async def _on_message(self, message: Any) -> None:
        if isinstance(message, Exception):
            logger.debug("MCP server %s transport message: %s", self.server.name, message)
            return
        data: dict[str, Any] = {"server": self.server.name}
        if isinstance(message, types.LoggingMessageNotification):
            data |= {"kind": "log", "level": message.params.level, "data": message.params.data}
        elif isinstance(message, types.ToolListChangedNotification):
            self.tools_cache = None
            data |= {"kind": "tools_changed"}
            if self.on_tools_changed is not None and self.state == "connected":
                self.on_tools_changed()
        elif isinstance(message, types.ResourceUpdatedNotification):
            data |= {"kind": "resource_updated", "uri": message.params.uri}
        elif isinstance(message, types.ResourceListChangedNotification):
            data |= {"kind": "resources_changed"}
        elif isinstance(message, types.PromptListChangedNotification):
            data |= {"kind": "prompts_changed"}
        else:
            return  # progress goes to the per-call callback; the rest carries nothing a client shows
        await self._event(MCP_NOTIFICATION, data)

    async def _event(self, type_: str, data: Mapping[str, Any]) -> None:
        if self._emit is None:
            return
        try:
            await self._emit(type_, data)
        except Exception:  # an event sink failure must not take the server connection down
            logger.exception("could not emit %s for MCP server %s", type_, self.server.name)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        inner = [_describe(e) for e in exc.exceptions]  # pyright: ignore[reportUnknownVariableType, reportUnknownMemberType, reportUnknownArgumentType]
        return "; ".join(inner) or type(exc).__name__
    if isinstance(exc, MCPError):
        return exc.error.message
    if isinstance(exc, FileNotFoundError):
        return f"command not found: {exc.filename}"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
