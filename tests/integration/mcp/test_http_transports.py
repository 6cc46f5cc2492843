"""Streamable HTTP and SSE against server-everything, including a server that dies and comes back."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp_realkit import free_port, wait_listening

from dexa.adapters.mcp.config import ServerConfig
from dexa.adapters.mcp.manager import McpManager
from dexa.core.events import EventType
from dexa.core.tools import SessionState, ToolContext, ToolRegistry
from dexa.testing.fakes import DirWorkspace

pytestmark = pytest.mark.anyio


class _Events:
    def __init__(self) -> None:
        self.items: list[tuple[str, dict]] = []

    async def __call__(self, type_: str, data) -> None:
        self.items.append((type_, dict(data)))


def _ctx(tmp_path: Path, emit) -> ToolContext:
    return ToolContext(
        session_id="s",
        org_id="o",
        tool_use_id="tu",
        workspace=DirWorkspace(tmp_path),
        state=SessionState(cwd=str(tmp_path)),
        emit=emit,
        kv=None,
    )  # type: ignore[arg-type]


class NodeServer:
    def __init__(self, js: str, mode: str) -> None:
        self.js, self.mode, self.port = js, mode, free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "PORT": str(self.port)}
        self.proc = subprocess.Popen(
            ["node", self.js, self.mode], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_listening(self.port)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture(params=[("streamableHttp", "http", "/mcp"), ("sse", "sse", "/sse")], ids=["http", "sse"])
def remote(request: pytest.FixtureRequest, everything_js: str) -> Iterator[tuple[NodeServer, ServerConfig]]:
    mode, transport, path = request.param
    node = NodeServer(everything_js, mode)
    node.start()
    config = ServerConfig(
        name="remote",
        transport=transport,
        url=f"http://127.0.0.1:{node.port}{path}",
        headers={"X-Dexa-Test": "1"},
        scope="integration",
    )
    try:
        yield node, config
    finally:
        node.stop()


async def test_remote_transports_list_tools_and_call_them(remote, tmp_path: Path) -> None:
    _, config = remote
    manager = McpManager([config])
    try:
        registry = ToolRegistry(await manager.initial_tools(lazy=False))
        out = await registry.get("mcp__remote__echo").run({"message": "over the wire"}, _ctx(tmp_path, _Events()))
        assert out.content == "Echo: over the wire"
    finally:
        await manager.aclose()


async def test_a_remote_server_that_dies_is_an_error_event_and_reconnects_when_back(remote, tmp_path: Path) -> None:
    node, config = remote
    events = _Events()
    manager = McpManager([config], emit=events)
    try:
        registry = ToolRegistry(await manager.initial_tools(lazy=False))
        echo = registry.get("mcp__remote__echo")
        assert (await echo.run({"message": "1"}, _ctx(tmp_path, events))).content == "Echo: 1"
        node.stop()
        async with asyncio.timeout(30):
            down = await echo.run({"message": "2"}, _ctx(tmp_path, events))
        assert down.is_error and "remote" in down.content
        assert [d["server"] for t, d in events.items if t == EventType.ERROR] == ["remote"]
        node.start()
        async with asyncio.timeout(30):
            back = await echo.run({"message": "3"}, _ctx(tmp_path, events))
        assert back.content == "Echo: 3"
    finally:
        await manager.aclose()
