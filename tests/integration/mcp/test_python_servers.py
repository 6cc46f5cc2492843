"""The PyPI reference servers mcp-server-time and mcp-server-git (built on mcp 2.3 MCPServer) through the manager."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from dexa.adapters.mcp.config import ServerConfig
from dexa.adapters.mcp.manager import McpManager
from dexa.core.tools import SessionState, ToolContext, ToolRegistry
from dexa.testing.fakes import DirWorkspace

pytestmark = pytest.mark.anyio


async def _noop(type_: str, data) -> None:
    return None


def _ctx(tmp_path: Path) -> ToolContext:
    return ToolContext(
        session_id="s",
        org_id="o",
        tool_use_id="tu",
        workspace=DirWorkspace(tmp_path),
        state=SessionState(cwd=str(tmp_path)),
        emit=_noop,
        kv=None,
    )  # type: ignore[arg-type]


async def test_time_server_lists_tools_and_converts_time(python: str, tmp_path: Path) -> None:
    server = ServerConfig(
        name="time", transport="stdio", command=python, args=("-m", "mcp_server_time", "--local-timezone", "UTC")
    )
    manager = McpManager([server])
    try:
        registry = ToolRegistry(await manager.initial_tools(lazy=False))
        assert registry.get("mcp__time__get_current_time").read_only
        now = await registry.get("mcp__time__get_current_time").run({"timezone": "Europe/Paris"}, _ctx(tmp_path))
        assert now.data["structured_content"]["timezone"] == "Europe/Paris"
        converted = await registry.get("mcp__time__convert_time").run(
            {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"}, _ctx(tmp_path)
        )
        assert "21:00" in converted.content
        bad = await registry.get("mcp__time__get_current_time").run({"timezone": "Mars/Olympus"}, _ctx(tmp_path))
        assert bad.is_error
        assert manager.connection("time").protocol_version == "2026-07-28"
    finally:
        await manager.aclose()


async def test_git_server_reads_a_real_repository_and_marks_writes(python: str, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "README.md").write_text("hello\n")
    server = ServerConfig(
        name="git", transport="stdio", command=python, args=("-m", "mcp_server_git", "--repository", str(repo))
    )
    manager = McpManager([server])
    try:
        tools = {t.spec.name: t for t in await manager.server_tools("git")}
        assert tools["mcp__git__git_status"].read_only and not tools["mcp__git__git_commit"].read_only
        assert not tools["mcp__git__git_reset"].read_only
        status = await tools["mcp__git__git_status"].run({"repo_path": str(repo)}, _ctx(tmp_path))
        assert "README.md" in status.content and not status.is_error
    finally:
        await manager.aclose()
