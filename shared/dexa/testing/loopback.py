"""Serve an ASGI app on a loopback port inside the current event loop (tests and the offline code demo).

Real git talks real HTTP, so the git proxy and the stand-in git host must listen on sockets; serving them in the
caller's loop keeps everything in one process, and asyncio subprocesses (git) never block the servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import uvicorn


@contextlib.asynccontextmanager
async def serve_asgi(app: Any, *, host: str = "127.0.0.1", startup_timeout_s: float = 10.0) -> AsyncIterator[str]:
    """Yields the base URL (`http://127.0.0.1:<port>`); the server stops when the block exits."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]), name=f"loopback-{port}")
    try:
        async with asyncio.timeout(startup_timeout_s):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.005)
        yield f"http://{host}:{port}"
    finally:
        # Nothing more will be asked of it: skip the graceful wait for idle keep-alive connections.
        server.should_exit = server.force_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sock.close()
