"""MCP servers hosted inside the Agent SDK program (`"type": "sdk"` in `--mcp-config`), reached over stdin/stdout.

The server's code runs in the SDK's process (`create_sdk_mcp_server`), so there is nothing to start: each JSON-RPC
message goes to the SDK as a `control_request` `{"subtype": "mcp_message", "server_name", "message"}` and the SDK's
`control_response` carries the server's answer as `{"mcp_response": <JSON-RPC>}` (claude_agent_sdk
`_internal/query.py`). The SDK's bridge runs a real MCP server session, so the usual handshake comes first:
`initialize`, then `notifications/initialized`, then `tools/list`. Each tool becomes `mcp__<server>__<tool>`.

The SDK program is the caller's own code, already trusted with the session, so its tools skip the staging gate
that guards third-party servers; permission rules (`allowed_tools`, `can_use_tool`) still apply by name.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Sequence
from typing import Any

import mcp.types as types

from dexa.adapters.mcp.names import tool_name
from dexa.adapters.mcp.results import render_call
from dexa.core.errors import DexaError
from dexa.core.ports import ToolSpec
from dexa.core.tools import ToolContext, ToolOutput

from .control import ControlChannel, ControlError

logger = logging.getLogger(__name__)

PROTOCOL_VERSION = "2025-06-18"
HANDSHAKE_TIMEOUT_S = 30.0
CALL_TIMEOUT_S = 600.0  # an SDK tool is the program's own function: as long as a Bash call may take
MAX_OUTPUT_TOKENS = 25_000  # Claude Code's MAX_MCP_OUTPUT_TOKENS default


class SdkServerError(DexaError):
    """The SDK answered an mcp_message with a JSON-RPC error, or not at all."""


class SdkMcpServer:
    """One SDK-hosted server: a JSON-RPC client whose transport is the control channel."""

    def __init__(self, channel: ControlChannel, name: str) -> None:
        self.channel = channel
        self.name = name
        self._ids = itertools.count(1)
        self.status = "pending"
        self.error = ""

    async def rpc(self, method: str, params: dict[str, Any] | None = None, *, timeout: float) -> dict[str, Any]:
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": next(self._ids), "method": method}
        if params is not None:
            message["params"] = params
        answer = await self._send(message, timeout=timeout)
        if "error" in answer:
            err = answer["error"] or {}
            raise SdkServerError(f"SDK MCP server {self.name!r}: {method} failed: {err.get('message', err)}")
        result = answer.get("result")
        return result if isinstance(result, dict) else {}

    async def notify(self, method: str) -> None:
        await self._send({"jsonrpc": "2.0", "method": method}, timeout=HANDSHAKE_TIMEOUT_S)

    async def _send(self, message: dict[str, Any], *, timeout: float) -> dict[str, Any]:
        request = {"subtype": "mcp_message", "server_name": self.name, "message": message}
        try:
            body = await self.channel.request(request, timeout=timeout)
        except ControlError as exc:
            raise SdkServerError(f"SDK MCP server {self.name!r}: {exc}") from None
        answer = body.get("mcp_response")
        if not isinstance(answer, dict):
            raise SdkServerError(f"SDK MCP server {self.name!r}: the SDK's answer has no mcp_response")
        return answer

    async def connect(self) -> list[SdkMcpTool]:
        """Handshake and list the tools; a failure leaves the server `failed` (reported) and the session going."""
        try:
            await self.rpc(
                "initialize",
                {
                    "protocolVersion": PROTOCOL_VERSION,
                    "capabilities": {},
                    "clientInfo": {"name": "dexa", "version": "1"},
                },
                timeout=HANDSHAKE_TIMEOUT_S,
            )
            await self.notify("notifications/initialized")
            listing = await self.rpc("tools/list", {}, timeout=HANDSHAKE_TIMEOUT_S)
            tools = [types.Tool.model_validate(t) for t in listing.get("tools") or []]
        except (DexaError, ValueError) as exc:
            self.status, self.error = "failed", str(exc)
            logger.warning("%s", exc)
            return []
        self.status = "connected"
        return [SdkMcpTool(self, t) for t in tools]

    def status_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": self.name, "status": self.status}
        if self.error:
            entry["error"] = self.error
        return entry


class SdkMcpTool:
    def __init__(self, server: SdkMcpServer, tool: types.Tool) -> None:
        self.server = server
        self.tool = tool.name
        schema = dict(tool.input_schema) if tool.input_schema else {"type": "object", "properties": {}}
        self.spec = ToolSpec(
            name=tool_name(server.name, tool.name),
            description=tool.description or tool.title or tool.name,
            input_schema=schema,
        )
        self.read_only = bool(tool.annotations and tool.annotations.read_only_hint)

    async def run(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        try:
            raw = await self.server.rpc(
                "tools/call", {"name": self.tool, "arguments": dict(tool_input)}, timeout=CALL_TIMEOUT_S
            )
            result = types.CallToolResult.model_validate(raw)
        except SdkServerError as exc:
            return ToolOutput(content=str(exc), is_error=True, data={"server": self.server.name})
        except ValueError as exc:
            text = f"SDK MCP server {self.server.name!r} sent a malformed tools/call result: {exc}"
            return ToolOutput(content=text, is_error=True, data={"server": self.server.name})
        rendered = render_call(result, max_tokens=MAX_OUTPUT_TOKENS)
        return ToolOutput(
            content=rendered.text,
            is_error=rendered.is_error,
            data={"server": self.server.name, "tool": self.tool, **rendered.data},
        )


def sdk_server_names(mcp_config_values: Sequence[str]) -> list[str]:
    """Names of the `"type": "sdk"` servers in `--mcp-config` values (inline JSON, as the SDKs pass, or files)."""
    from pathlib import Path

    names: list[str] = []
    for value in mcp_config_values:
        try:
            text = value if value.lstrip().startswith("{") else Path(value).read_text()
            data = json.loads(text)
        except (OSError, json.JSONDecodeError):
            continue  # dexa.headless.json_flags reports these
        servers = data.get("mcpServers") if isinstance(data, dict) else None
        if isinstance(servers, dict):
            names += [n for n, c in servers.items() if isinstance(c, dict) and c.get("type") == "sdk"]
    return names
