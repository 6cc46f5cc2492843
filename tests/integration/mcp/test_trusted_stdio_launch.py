"""Trusted stdio servers get what they need to start inside the sandbox: the program's install tree, an npm bin's
package tree, a `#!` interpreter, the npx/uvx caches, a PATH naming them, and nothing of the user's home.

Before, the sandbox bound only system trees, the workspace and Dexa's venv, so `mcp-server-everything` from
PATH failed at `require` time and a pyenv interpreter at exec time, silently.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dexa.adapters.local_sandbox.bwrap import probe_bwrap
from dexa.adapters.mcp.launch_mounts import launch_mounts

REPO = Path(__file__).resolve().parents[3]
NPM_BIN = REPO / "tools/mcp/node_modules/.bin"
INTERPRETER_TREES = sorted({str(Path(sys.prefix).resolve()), str(Path(sys.base_prefix).resolve())})


def test_a_pyenv_interpreter_gets_its_toolchain_root_and_never_the_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    python = home / ".pyenv/versions/3.12.1/bin/python3"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\n")
    python.chmod(0o755)
    (home / ".npm").mkdir()
    (home / ".ssh").mkdir()
    ws = tmp_path / "ws"
    ws.mkdir()
    needs = launch_mounts(
        "python3",
        ["-m", "srv"],
        env={"PATH": f"{python.parent}:/usr/bin"},
        cwd=str(ws),
        roots=[str(ws)],
        home=str(home),
    )
    assert str(home / ".pyenv") in needs.read_only and str(home / ".npm") in needs.read_only
    assert str(python.parent) in needs.path_dirs
    assert not any(p == str(home) or str(home / ".ssh").startswith(p + "/") for p in needs.read_only)
    online = launch_mounts("python3", [], env={"PATH": str(python.parent)}, cwd=str(ws), roots=[str(ws)],
                           home=str(home), network=True)  # fmt: skip
    assert str(home / ".npm") in online.writable and str(home / ".npm") not in online.read_only


def test_a_program_directly_in_the_home_is_narrowed_to_its_own_directory(tmp_path: Path) -> None:
    home = tmp_path / "home"
    tool = home / "bin" / "my-server"
    tool.parent.mkdir(parents=True)
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    needs = launch_mounts(str(tool), [], env={}, cwd=str(tmp_path), roots=[], home=str(home))
    assert needs.read_only == [str(tool.parent)], "bin's parent is the home: never bound whole"


@pytest.mark.skipif(probe_bwrap() is not None, reason=f"bubblewrap unusable here: {probe_bwrap()}")
def test_an_npm_server_found_on_path_starts_in_the_sandbox_and_answers(tmp_path: Path) -> None:
    if not (NPM_BIN / "mcp-server-everything").exists():
        pytest.skip("server-everything is not installed: run `npm ci` in tools/mcp")
    ws = tmp_path / "ws"
    ws.mkdir()
    config = tmp_path / "mcp.json"
    config.write_text(json.dumps({"mcpServers": {"everything": {"command": "mcp-server-everything"}}}))
    script = tmp_path / "script.json"
    call = {"name": "mcp__everything__echo", "input": {"message": "from PATH"}}
    script.write_text(json.dumps({"turns": [{"tool_uses": [call]}, {"text": "done"}]}))
    env = {**os.environ, "DEXA_HOME": str(tmp_path / "dexa"), "PATH": f"{NPM_BIN}:{os.environ.get('PATH', '')}"}
    run = subprocess.run(
        [sys.executable, "-m", "dexa.cli", "run", "-p", "echo", "--model", f"scripted:{script}", "--mcp-config",
         str(config), "--allowedTools", "mcp__everything__echo", "--output-format", "stream-json", "--verbose"],
        cwd=ws, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    lines = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert {"name": "everything", "status": "connected", "source": "dynamic"} in lines[0]["mcp_servers"], run.stderr
    results = [b for m in lines if m["type"] == "user" for b in m["message"]["content"]]
    assert results[0]["content"] == "Echo: from PATH"


FETCH_SERVER = '''
import urllib.request
from mcp.server.mcpserver import MCPServer
mcp = MCPServer("net")

@mcp.tool()
def fetch(url: str) -> str:
    """Fetch a URL (urllib honours HTTP_PROXY)."""
    try:
        return urllib.request.urlopen(url, timeout=5).read().decode()
    except OSError as exc:
        return "unreachable: " + type(exc).__name__

mcp.run()
'''


async def _fetch_through(ws: Path, egress_socket: str | None) -> str:
    from dexa.adapters.mcp.config import ServerConfig
    from dexa.adapters.mcp.manager import McpManager
    from dexa.adapters.mcp.sandbox import bwrap_wrapper
    from dexa.core.tools import SessionState, ToolContext, ToolRegistry
    from dexa.testing.fakes import DirWorkspace

    async def noop(type_: str, data: object) -> None:
        return None

    wrapper = bwrap_wrapper(
        [str(ws)], network=egress_socket is not None, read_only=INTERPRETER_TREES, egress_socket=egress_socket
    )
    server = ServerConfig(name="net", transport="stdio", command=sys.executable, args=("net.py",), cwd=str(ws))
    manager = McpManager([server], wrapper=wrapper, base_env={"PATH": "/usr/bin:/bin"})
    ctx = ToolContext(session_id="s", org_id="o", tool_use_id="t", workspace=DirWorkspace(ws),
                      state=SessionState(cwd=str(ws)), emit=noop, kv=None)  # type: ignore[arg-type]  # fmt: skip
    try:
        registry = ToolRegistry(await manager.initial_tools(lazy=False))
        tool = registry.get("mcp__net__fetch")
        assert tool is not None
        return (await tool.run({"url": "http://example.test/page"}, ctx)).content
    finally:
        await manager.aclose()


@pytest.mark.anyio
@pytest.mark.skipif(probe_bwrap() is not None, reason=f"bubblewrap unusable here: {probe_bwrap()}")
async def test_a_stdio_server_reaches_the_network_only_through_the_sessions_egress_proxy(tmp_path: Path) -> None:
    import asyncio
    import shutil as sh

    if sh.which("socat") is None:
        pytest.skip("the egress bridge needs socat")
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "net.py").write_text(FETCH_SERVER)
    seen: list[str] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append((await reader.readuntil(b"\r\n\r\n")).split(b"\r\n", 1)[0].decode())
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nvia proxy\n")
        await writer.drain()
        writer.close()

    sock = str(tmp_path / "egress.sock")
    stand_in = await asyncio.start_unix_server(proxy, path=sock)
    try:
        assert (await _fetch_through(ws, sock)).strip() == "via proxy"
        assert seen == ["GET http://example.test/page HTTP/1.1"]
        offline = await _fetch_through(ws, None)
        assert offline.startswith("unreachable") and len(seen) == 1
    finally:
        stand_in.close()
