"""Dexa as an Agent Client Protocol agent (`dexa acp`): one integration for every editor that speaks ACP."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from .backend import Backend
from .server import DexaAgent
from .transport import LINE_LIMIT, StdioTransport

__all__ = ["DexaAgent", "serve_stdio"]


async def serve_stdio(backend: Backend, *, thinking: bool = False) -> None:
    """Speak ACP on this process's stdin/stdout until the editor closes stdin."""
    from acp import AgentSideConnection

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    # Stdout is ACP's alone: the protocol keeps the original pipe on a new descriptor, and whatever else writes to
    # fd 1 (a print, a child process that inherits it) goes to stderr instead of corrupting the stream.
    sys.stdout.flush()
    out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, out)
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    agent = DexaAgent(backend, thinking=thinking)
    conn: Any = AgentSideConnection(agent, StdioTransport(reader, writer), listening=False)
    try:
        await conn.listen()
    finally:
        await backend.aclose()
