"""The MCP client against npm @modelcontextprotocol/server-everything: tools, resources, prompts, progress,
errors, and a server killed in the middle of a call."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from mcp_realkit import PidWrapper

from dexa.adapters.mcp.config import ServerConfig
from dexa.adapters.mcp.manager import McpManager
from dexa.core.events import EventType
from dexa.core.tools import SessionState, ToolContext, ToolRegistry
from dexa.testing.fakes import DirWorkspace

pytestmark = pytest.mark.anyio


class Events:
    def __init__(self) -> None:
        self.items: list[tuple[str, dict]] = []
        self.progress = asyncio.Event()

    async def __call__(self, type_: str, data) -> None:
        self.items.append((type_, dict(data)))
        if type_ == EventType.TOOL_OUTPUT:
            self.progress.set()

    def of(self, type_: str) -> list[dict]:
        return [d for t, d in self.items if t == type_]


class _Kv:
    def __init__(self) -> None:
        self.d: dict = {}

    async def kv_get(self, ns, key, *, org_id=""):
        return self.d.get((ns, key))

    async def kv_put(self, ns, key, value, *, org_id=""):
        self.d[(ns, key)] = dict(value)


def _ctx(tmp_path: Path, emit: Events, tool_use_id: str = "tu") -> ToolContext:
    return ToolContext(
        session_id="s",
        org_id="o",
        tool_use_id=tool_use_id,
        workspace=DirWorkspace(tmp_path),
        state=SessionState(cwd=str(tmp_path)),
        emit=emit,
        kv=_Kv(),
    )  # type: ignore[arg-type]


async def _start(everything_js: str, tmp_path: Path, emit: Events) -> tuple[McpManager, ToolRegistry, PidWrapper]:
    wrapper = PidWrapper(tmp_path)
    server = ServerConfig(name="everything", transport="stdio", command="node", args=(everything_js, "stdio"))
    manager = McpManager([server], emit=emit, wrapper=wrapper)
    registry = ToolRegistry(await manager.initial_tools(lazy=True))
    manager.attach(registry)
    await manager.load_sources(["everything"])
    return manager, registry, wrapper


async def test_tools_list_and_answer_with_structured_content_and_errors(everything_js: str, tmp_path: Path) -> None:
    emit = Events()
    manager, registry, _ = await _start(everything_js, tmp_path, emit)
    try:
        assert {"mcp__everything__echo", "mcp__everything__get-sum", "mcp__everything__get-structured-content"} <= set(
            registry.names()
        )
        assert registry.get("mcp__everything__echo").read_only
        echo = await registry.get("mcp__everything__echo").run({"message": "hi"}, _ctx(tmp_path, emit))
        assert echo.content == "Echo: hi" and not echo.is_error
        total = await registry.get("mcp__everything__get-sum").run({"a": 2, "b": 40}, _ctx(tmp_path, emit))
        assert "42" in total.content
        weather = await registry.get("mcp__everything__get-structured-content").run(
            {"location": "Chicago"}, _ctx(tmp_path, emit)
        )
        assert set(weather.data["structured_content"]) >= {"temperature", "conditions"}
        bad = await registry.get("mcp__everything__get-sum").run({"a": "x"}, _ctx(tmp_path, emit))
        assert bad.is_error and "Invalid" in bad.content
        image = await registry.get("mcp__everything__get-tiny-image").run({}, _ctx(tmp_path, emit))
        assert "[image image/png" in image.content
    finally:
        await manager.aclose()


async def test_progress_resources_and_prompts(everything_js: str, tmp_path: Path) -> None:
    emit = Events()
    manager, registry, _ = await _start(everything_js, tmp_path, emit)
    try:
        tool = registry.get("mcp__everything__trigger-long-running-operation")
        out = await tool.run({"duration": 0.3, "steps": 3}, _ctx(tmp_path, emit, "tu_long"))
        assert not out.is_error
        progress = [e for e in emit.of(EventType.TOOL_OUTPUT) if e["tool_use_id"] == "tu_long"]
        assert [p["progress"] for p in progress] == [1, 2, 3] and progress[-1]["total"] == 3
        listing = await registry.get("ListMcpResourcesTool").run({"server": "everything"}, _ctx(tmp_path, emit))
        assert "demo://resource/static/document/architecture.md" in listing.content
        assert "demo://resource/dynamic/text/{resourceId}" in listing.content
        doc = await registry.get("ReadMcpResourceTool").run(
            {"server": "everything", "uri": "demo://resource/static/document/architecture.md"}, _ctx(tmp_path, emit)
        )
        assert "Architecture" in doc.content
        prompts = {p["name"] for p in await manager.list_prompts("everything")}
        assert {"simple-prompt", "args-prompt"} <= prompts
        assert (
            await manager.expand_prompt_command("/mcp__everything__args-prompt Paris TX")
            == "What's weather in Paris, TX?"
        )
    finally:
        await manager.aclose()


async def test_a_server_killed_mid_call_is_a_clear_error_and_an_event_then_reconnects(
    everything_js: str, tmp_path: Path
) -> None:
    emit = Events()
    manager, registry, wrapper = await _start(everything_js, tmp_path, emit)
    try:
        first_pid = wrapper.pid("everything")
        tool = registry.get("mcp__everything__trigger-long-running-operation")
        call = asyncio.create_task(tool.run({"duration": 30, "steps": 30}, _ctx(tmp_path, emit, "tu_kill")))
        async with asyncio.timeout(15):
            await emit.progress.wait()  # the call is in flight once its first progress arrives
        wrapper.kill("everything")
        async with asyncio.timeout(15):
            out = await call
        assert out.is_error and "everything" in out.content and "restart" in out.content
        errors = emit.of(EventType.ERROR)
        assert (
            errors and errors[0]["server"] == "everything" and "trigger-long-running-operation" in errors[0]["message"]
        )
        again = await registry.get("mcp__everything__echo").run({"message": "back"}, _ctx(tmp_path, emit))
        assert again.content == "Echo: back"
        assert wrapper.pid("everything") != first_pid
        assert any("reconnected" in w["message"] for w in emit.of(EventType.WARNING))
    finally:
        await manager.aclose()


async def test_stdio_servers_do_not_see_platform_credentials(everything_js: str, tmp_path: Path) -> None:
    emit = Events()
    server = ServerConfig(
        name="everything",
        transport="stdio",
        command="node",
        args=(everything_js, "stdio"),
        env={"CUSTOMER_TOKEN": "c-123", "ANTHROPIC_API_KEY": "from-config"},
    )
    base = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "ANTHROPIC_API_KEY": "sk-ant-platform-secret",
        "AWS_SECRET_ACCESS_KEY": "aws-secret",
    }
    manager = McpManager([server], emit=emit, base_env=base, platform_secrets=["sk-ant-platform-secret"])
    try:
        registry = ToolRegistry(await manager.initial_tools(lazy=False))
        env = await registry.get("mcp__everything__get-env").run({}, _ctx(tmp_path, emit))
        assert "c-123" in env.content
        for secret in ("sk-ant-platform-secret", "from-config", "aws-secret"):
            assert secret not in env.content
    finally:
        await manager.aclose()
