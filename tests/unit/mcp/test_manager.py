"""The MCP manager against in-process servers: naming, annotations, lazy loading, caps, progress, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp_testkit import MemoryKv, Recorder, demo_server, inproc, tool_context

from dexa.adapters.mcp.config import ServerConfig
from dexa.adapters.mcp.gate import McpCall
from dexa.adapters.mcp.lazy import ListSourcesTool
from dexa.adapters.mcp.manager import McpManager
from dexa.adapters.mcp.names import McpLimits
from dexa.core.events import EventType
from dexa.core.tools import ToolContext, ToolOutput, ToolRegistry

pytestmark = pytest.mark.anyio


async def _loaded(manager: McpManager, *names: str) -> ToolRegistry:
    registry = ToolRegistry(await manager.initial_tools(lazy=True))
    manager.attach(registry)
    await manager.load_sources(list(names))
    return registry


async def test_tools_are_named_mcp_server_tool_and_honour_read_only_hints(tmp_path: Path) -> None:
    server, _ = demo_server()
    manager = McpManager([inproc("unit", server)])
    try:
        tools = {t.spec.name: t for t in await manager.server_tools("unit")}
        assert "mcp__unit__add" in tools and "mcp__unit__weird_name" in tools
        assert tools["mcp__unit__add"].read_only and not tools["mcp__unit__write_note"].read_only
        assert not tools["mcp__unit__fail"].read_only  # no annotations: the spec default is "not read-only"
        assert tools["mcp__unit__add"].spec.input_schema["required"] == ["a", "b"]
        out = await tools["mcp__unit__add"].run({"a": 2, "b": 3}, tool_context(tmp_path, Recorder()))
        assert not out.is_error and "5" in out.content and out.data["structured_content"] == {"result": 5}
    finally:
        await manager.aclose()


async def test_lazy_loading_shows_sources_first_and_adds_schemas_on_demand(tmp_path: Path) -> None:
    a, _ = demo_server()
    b, _ = demo_server()
    manager = McpManager([inproc("alpha", a, description="Alpha data"), inproc("beta", b, always_load=True)])
    kv = MemoryKv()
    try:
        registry = ToolRegistry(await manager.initial_tools(lazy=True))
        manager.attach(registry)
        names = registry.names()
        assert "mcp__beta__add" in names and not any(n.startswith("mcp__alpha__") for n in names)
        assert "alpha (Alpha data)" in registry.get("LoadSourceTools").spec.description
        ctx = tool_context(tmp_path, Recorder(), kv)
        listing = await registry.get("ListSources").run({}, ctx)
        assert "alpha" in listing.content and "add" in listing.content
        loaded = await registry.get("LoadSourceTools").run({"sources": ["alpha"]}, ctx)
        assert not loaded.is_error and "mcp__alpha__add" in loaded.content
        assert "mcp__alpha__add" in registry
        assert kv.data[("org", "mcp_loaded", "ses")]["sources"] == ["alpha"]
        bad = await registry.get("LoadSourceTools").run({"sources": ["gamma"]}, ctx)
        assert bad.is_error and "gamma" in bad.content and "alpha" in bad.content
    finally:
        await manager.aclose()


async def test_eager_mode_exposes_every_tool_without_meta_tools() -> None:
    server, _ = demo_server()
    manager = McpManager([inproc("unit", server)])
    try:
        names = [t.spec.name for t in await manager.initial_tools(lazy=False)]
        assert "mcp__unit__add" in names and "LoadSourceTools" not in names and "ListMcpResourcesTool" in names
    finally:
        await manager.aclose()


async def test_output_is_capped_by_max_mcp_output_tokens_and_by_tool_metadata(tmp_path: Path) -> None:
    server, _ = demo_server()
    manager = McpManager([inproc("unit", server)], limits=McpLimits(max_output_tokens=50, warn_output_tokens=20))
    emit = Recorder()
    try:
        registry = await _loaded(manager, "unit")
        out = await registry.get("mcp__unit__big").run({"n": 1000}, tool_context(tmp_path, emit))
        assert out.content.startswith("x" * 200) and "x" * 201 not in out.content and "truncated" in out.content
        assert any("mcp__unit__big" in w["message"] for w in emit.of(EventType.WARNING))
        own = await registry.get("mcp__unit__small_cap").run({"n": 150}, tool_context(tmp_path, emit))
        assert "y" * 100 in own.content and "y" * 101 not in own.content
    finally:
        await manager.aclose()


async def test_progress_notifications_become_tool_output_events(tmp_path: Path) -> None:
    server, _ = demo_server()
    manager = McpManager([inproc("unit", server)])
    emit = Recorder()
    try:
        registry = await _loaded(manager, "unit")
        out = await registry.get("mcp__unit__slow").run({"steps": 3}, tool_context(tmp_path, emit))
        assert out.content == "finished"
        progress = [e for e in emit.of(EventType.TOOL_OUTPUT) if e.get("kind") == "progress"]
        assert [p["progress"] for p in progress] == [1, 2, 3] and progress[0]["tool_use_id"] == "tu_1"
    finally:
        await manager.aclose()


async def test_tool_errors_and_bad_arguments_are_error_results_not_exceptions(tmp_path: Path) -> None:
    server, _ = demo_server()
    manager = McpManager([inproc("unit", server)])
    try:
        registry = await _loaded(manager, "unit")
        failed = await registry.get("mcp__unit__fail").run({"reason": "disk full"}, tool_context(tmp_path, Recorder()))
        assert failed.is_error and "disk full" in failed.content
        bad = await registry.get("mcp__unit__add").run({"a": "x"}, tool_context(tmp_path, Recorder()))
        assert bad.is_error
        ok = await registry.get("mcp__unit__add").run({"a": 1, "b": 1}, tool_context(tmp_path, Recorder()))
        assert not ok.is_error  # the session goes on
    finally:
        await manager.aclose()


async def test_a_slow_call_times_out_as_an_error_and_the_server_stays_usable(tmp_path: Path) -> None:
    server, _ = demo_server()
    manager = McpManager([inproc("unit", server, timeout_s=0.2)])
    try:
        registry = await _loaded(manager, "unit")
        out = await registry.get("mcp__unit__slow").run({"steps": 2, "pause": 5}, tool_context(tmp_path, Recorder()))
        assert out.is_error and "timed out" in out.content and "unit" in out.content
        again = await registry.get("mcp__unit__add").run({"a": 1, "b": 2}, tool_context(tmp_path, Recorder()))
        assert again.content == "3"
    finally:
        await manager.aclose()


class _StageEverything:
    def __init__(self) -> None:
        self.calls: list[McpCall] = []

    async def check(self, call: McpCall, ctx: ToolContext) -> ToolOutput | None:
        self.calls.append(call)
        return None if call.hints.read_only else ToolOutput(content=f"staged {call.tool}")


async def test_the_gate_sees_hints_and_a_gated_call_never_reaches_the_server(tmp_path: Path) -> None:
    server, calls = demo_server()
    gate = _StageEverything()
    manager = McpManager([inproc("unit", server)], gate=gate)
    try:
        registry = await _loaded(manager, "unit")
        out = await registry.get("mcp__unit__write_note").run({"text": "hi"}, tool_context(tmp_path, Recorder()))
        assert out.content == "staged write_note" and "write_note" not in calls
        await registry.get("mcp__unit__add").run({"a": 1, "b": 1}, tool_context(tmp_path, Recorder()))
        assert calls["add"] == 1
        assert gate.calls[0].hints.open_world and not gate.calls[0].hints.read_only
        assert gate.calls[0].exposed_name == "mcp__unit__write_note"
    finally:
        await manager.aclose()


async def test_resources_and_prompts_are_exposed(tmp_path: Path) -> None:
    server, _ = demo_server()
    manager = McpManager([inproc("unit", server)])
    try:
        registry = ToolRegistry(await manager.initial_tools(lazy=True))
        ctx = tool_context(tmp_path, Recorder())
        listing = await registry.get("ListMcpResourcesTool").run({}, ctx)
        assert "config://app" in listing.content and "greeting://{name}" in listing.content
        read = await registry.get("ReadMcpResourceTool").run({"server": "unit", "uri": "greeting://ada"}, ctx)
        assert read.content == "Hello, ada!"
        missing = await registry.get("ReadMcpResourceTool").run({"server": "nope", "uri": "x://y"}, ctx)
        assert missing.is_error and "unit" in missing.content
        prompts = await manager.list_prompts()
        assert prompts[0]["command"] == "/mcp__unit__review"
        expanded = await manager.expand_prompt_command("/mcp__unit__review 'print(1)' rust")
        assert expanded == "Please review this rust code:\nprint(1)"
        assert await manager.expand_prompt_command("/not_a_prompt") is None
    finally:
        await manager.aclose()


async def test_a_server_that_cannot_start_is_reported_and_the_others_still_work(tmp_path: Path) -> None:
    server, _ = demo_server()
    emit = Recorder()
    broken = ServerConfig(name="broken", transport="stdio", command="/nonexistent/dexa-mcp-server", always_load=True)
    manager = McpManager(
        [broken, inproc("unit", server, always_load=True)], emit=emit, limits=McpLimits(startup_timeout_s=5)
    )
    try:
        names = [t.spec.name for t in await manager.initial_tools(lazy=True)]
        assert "mcp__unit__add" in names
        assert any(e["server"] == "broken" for e in emit.of("error"))
        listing = await ListSourcesTool(manager).run({}, tool_context(tmp_path, Recorder()))
        assert "broken [failed]" in listing.content and "nonexistent" in listing.content
    finally:
        await manager.aclose()
