"""ACP's newline-delimited JSON-RPC over stdio, answering what the SDK's own framing drops in silence.

The `agent-client-protocol` package logs an unparsable line and carries on, so an editor (or a person testing by
hand) that sent one waits for an answer forever. Here such a line, and a message that is no JSON-RPC request,
notification or response, gets a JSON-RPC error naming the cause; the connection stays up.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

# A prompt may embed whole files: lines up to 50 MiB, as the SDK's own stdio default.
LINE_LIMIT = 50 * 1024 * 1024


def _error(code: int, message: str, request_id: Any = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


def problem(message: Any) -> dict[str, Any] | None:
    """The error answer for a decoded line that is not a JSON-RPC 2.0 message, else None."""
    if not isinstance(message, dict):
        return _error(-32600, f"Invalid request: a JSON-RPC message is an object, not {type(message).__name__}")
    request_id = message.get("id")
    if message.get("jsonrpc") != "2.0":
        return _error(-32600, 'Invalid request: "jsonrpc" must be "2.0"', request_id)
    if "method" in message:
        if not isinstance(message["method"], str):
            return _error(-32600, 'Invalid request: "method" must be a string', request_id)
        if "params" in message and not isinstance(message["params"], (dict, list, type(None))):
            return _error(-32600, 'Invalid request: "params" must be an object or an array', request_id)
        return None
    if "id" in message and ("result" in message or "error" in message):
        return None  # a response to one of our requests
    return _error(-32600, 'Invalid request: no "method" (and not a response with "result" or "error")', request_id)


class StdioTransport:
    """The acp Transport protocol (decoded dict messages) over a reader and writer of JSON lines."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._lock = asyncio.Lock()

    async def send(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message, separators=(",", ":")) + "\n").encode()
        async with self._lock:
            self.writer.write(data)
            await self.writer.drain()

    async def receive(self) -> dict[str, Any] | None:
        while True:
            try:
                line = await self.reader.readuntil(b"\n")
            except asyncio.IncompleteReadError as exc:
                line = exc.partial
                if not line.strip():
                    return None
            except asyncio.LimitOverrunError as exc:
                await self._discard_line(exc.consumed)
                await self.send(_error(-32700, f"Parse error: a message longer than {LINE_LIMIT} bytes"))
                continue
            if not line.strip():
                continue
            try:
                message = json.loads(line)
            except ValueError as exc:
                await self.send(_error(-32700, f"Parse error: not JSON ({exc})"))
                continue
            bad = problem(message)
            if bad is not None:
                await self.send(bad)
                continue
            return message

    async def _discard_line(self, consumed: int) -> None:
        while True:
            await self.reader.readexactly(consumed)
            try:
                await self.reader.readuntil(b"\n")
                return
            except asyncio.LimitOverrunError as exc:
                consumed = exc.consumed
            except asyncio.IncompleteReadError:
                return

    async def close(self) -> None:
        self.writer.close()
