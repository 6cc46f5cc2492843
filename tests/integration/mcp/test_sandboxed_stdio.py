"""Project stdio servers run inside the workspace sandbox (bubblewrap): they work, and see only the workspace."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from dexa.adapters.local_sandbox.bwrap import probe_bwrap
from dexa.adapters.mcp.config import ServerConfig
from dexa.adapters.mcp.manager import McpManager
from dexa.adapters.mcp.sandbox import bwrap_wrapper
from dexa.core.tools import SessionState, ToolContext, ToolRegistry
from dexa.testing.fakes import DirWorkspace

pytestmark = pytest.mark.anyio

SERVER = '''
import os, sys
from mcp.server.mcpserver import MCPServer
mcp = MCPServer("probe")

@mcp.tool()
def look(path: str) -> str:
    """Try to list a directory."""
    try:
        return "can see: " + ",".join(sorted(os.listdir(path)))
    except OSError as exc:
        return "cannot see: " + type(exc).__name__

@mcp.tool()
def whoami() -> str:
    """Where the server runs and what env it got."""
    return f"cwd={os.getcwd()} project={os.environ.get('CLAUDE_PROJECT_DIR')} key={os.environ.get('ANTHROPIC_API_KEY')}"

mcp.run()
'''


async def _noop(type_: str, data) -> None:
    return None


# The interpreter and its standard library live outside the workspace; the sandbox binds them read-only.
INTERPRETER_TREES = sorted({str(Path(sys.prefix).resolve()), str(Path(sys.base_prefix).resolve())})


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "probe.py").write_text(SERVER)
    (root / "notes.txt").write_text("x")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "private.key").write_text("k")
    return root


@pytest.fixture
def sandbox_ready() -> None:
    problem = probe_bwrap()
    if problem is not None:
        pytest.skip(f"bubblewrap unusable here: {problem}")


async def test_a_project_server_runs_under_bwrap_confined_to_the_workspace(
    sandbox_ready: None, workspace: Path, tmp_path: Path
) -> None:
    secret_dir = tmp_path / "elsewhere"
    wrapper = bwrap_wrapper([str(workspace)], read_only=INTERPRETER_TREES)
    server = ServerConfig(
        name="probe",
        transport="stdio",
        command=sys.executable,
        args=("probe.py",),
        cwd=str(workspace),
        env={"CLAUDE_PROJECT_DIR": str(workspace)},
        scope="project",
    )
    manager = McpManager(
        [server], wrapper=wrapper, base_env={"PATH": "/usr/bin:/bin", "ANTHROPIC_API_KEY": "sk-ant-platform"}
    )
    ctx = ToolContext(
        session_id="s",
        org_id="o",
        tool_use_id="tu",
        workspace=DirWorkspace(workspace),
        state=SessionState(cwd=str(workspace)),
        emit=_noop,
        kv=None,
    )  # type: ignore[arg-type]
    try:
        registry = ToolRegistry(await manager.initial_tools(lazy=False))
        inside = await registry.get("mcp__probe__look").run({"path": str(workspace)}, ctx)
        assert "notes.txt" in inside.content
        outside = await registry.get("mcp__probe__look").run({"path": str(secret_dir)}, ctx)
        assert outside.content.startswith("cannot see")
        who = await registry.get("mcp__probe__whoami").run({}, ctx)
        assert f"cwd={workspace}" in who.content and f"project={workspace}" in who.content
        assert "key=None" in who.content
    finally:
        await manager.aclose()
