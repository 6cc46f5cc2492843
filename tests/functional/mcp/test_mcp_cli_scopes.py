"""`dexa mcp add|add-json|list|get|remove` write the files `claude mcp` writes, in the same shapes, and a session
uses what they added. Shapes and messages were observed with Claude Code 2.1.331 (`claude mcp …` in a fresh HOME).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CLAUDE = Path(__file__).resolve().parents[3] / "tools" / "claude-code" / "node_modules" / ".bin" / "claude"
TIME_ARGS = [sys.executable, "-m", "mcp_server_time", "--local-timezone", "UTC"]


@pytest.fixture
def world(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    home, proj = tmp_path / "home", tmp_path / "proj"
    home.mkdir()
    proj.mkdir()
    # Claude Code's own state in ~/.claude.json must survive every write.
    (home / ".claude.json").write_text(json.dumps({"numStartups": 3, "projects": {str(proj): {"allowedTools": []}}}))
    env = {**os.environ, "HOME": str(home), "DEXA_HOME": str(tmp_path / "dexa"), "DISABLE_AUTOUPDATER": "1"}
    env.pop("CLAUDE_CONFIG_DIR", None)
    return home, proj, env


def _dexa(proj: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dexa.cli", "mcp", *args], cwd=proj, env=env, capture_output=True, text=True, timeout=120
    )


def test_each_scope_is_written_where_and_how_claude_code_writes_it(world: tuple[Path, Path, dict[str, str]]) -> None:
    home, proj, env = world
    local = _dexa(proj, env, "add", "time", "--", *TIME_ARGS)
    assert local.returncode == 0, local.stderr
    assert local.stdout.splitlines() == [
        f"Added stdio MCP server time with command: {' '.join(TIME_ARGS)} to local config",
        f"File modified: {home / '.claude.json'} [project: {proj}]",
    ]
    web = _dexa(proj, env, "add", "-s", "project", "-t", "http", "web", "https://example.com/mcp", "-H", "X-Key: k1")
    assert web.returncode == 0, web.stderr
    assert '"X-Key": "[REDACTED]"' in web.stdout and "k1" not in web.stdout
    user = _dexa(proj, env, "add-json", "-s", "user", "feed", '{"type":"sse","url":"https://x.example/sse"}')
    assert user.stdout.strip() == "Added sse MCP server feed to user config"

    data = json.loads((home / ".claude.json").read_text())
    assert data["numStartups"] == 3 and data["projects"][str(proj)]["allowedTools"] == []
    assert data["projects"][str(proj)]["mcpServers"] == {
        "time": {"type": "stdio", "command": TIME_ARGS[0], "args": TIME_ARGS[1:], "env": {}}
    }
    assert data["mcpServers"] == {"feed": {"type": "sse", "url": "https://x.example/sse"}}
    assert json.loads((proj / ".mcp.json").read_text()) == {
        "mcpServers": {"web": {"type": "http", "url": "https://example.com/mcp", "headers": {"X-Key": "k1"}}}
    }
    assert (home / ".claude.json").stat().st_mode & 0o077 == 0


def test_duplicates_bad_entries_and_ambiguous_removals_fail_with_exit_1(
    world: tuple[Path, Path, dict[str, str]],
) -> None:
    _, proj, env = world
    assert _dexa(proj, env, "add", "x", "--", "true").returncode == 0
    again = _dexa(proj, env, "add", "x", "--", "true")
    assert again.returncode == 1 and "MCP server x already exists in local config" in again.stderr
    bad = _dexa(proj, env, "add-json", "y", '{"type":"stdio"}')
    assert bad.returncode == 1 and "Invalid configuration: command: expected string, received undefined" in bad.stderr
    assert _dexa(proj, env, "add", "-s", "user", "x", "--", "true").returncode == 0
    both = _dexa(proj, env, "remove", "x")
    assert both.returncode == 1 and 'MCP server "x" exists in multiple scopes' in both.stderr
    one = _dexa(proj, env, "remove", "x", "-s", "user")
    assert one.returncode == 0 and one.stdout.startswith("Removed MCP server x from user config")
    last = _dexa(proj, env, "remove", "x")
    assert last.returncode == 0 and last.stdout.startswith('Removed MCP server "x" from local config')
    gone = _dexa(proj, env, "get", "x")
    assert gone.returncode == 1 and 'No MCP server named "x"' in gone.stderr


def test_list_and_get_start_the_servers_and_hold_untrusted_project_ones(
    world: tuple[Path, Path, dict[str, str]],
) -> None:
    _, proj, env = world
    _dexa(proj, env, "add", "time", "--", *TIME_ARGS)
    _dexa(proj, env, "add", "broken", "--", str(proj / "no-such-server"))
    (proj / ".mcp.json").write_text(json.dumps({"mcpServers": {"repo": {"command": "true"}}}))
    listing = _dexa(proj, env, "list")
    assert listing.returncode == 0, listing.stderr
    lines = dict(line.split(": ", 1) for line in listing.stdout.splitlines() if ": " in line)
    assert lines["time"].endswith("- ✔ Connected")
    assert "✘ Failed to connect" in lines["broken"]
    assert lines["repo"] == "true - ⏸ Pending approval (run `dexa trust` to approve)"
    detail = _dexa(proj, env, "get", "time")
    assert detail.stdout.splitlines()[:4] == [
        "time:",
        "  Scope: Local config (private to you in this project)",
        "  Status: ✔ Connected",
        "  Type: stdio",
    ]


def test_a_server_added_with_dexa_mcp_add_is_used_by_the_next_run(world: tuple[Path, Path, dict[str, str]]) -> None:
    _, proj, env = world
    assert _dexa(proj, env, "add", "time", "--", *TIME_ARGS).returncode == 0
    script = proj.parent / "script.json"
    call = {"name": "mcp__time__get_current_time", "input": {"timezone": "UTC"}}
    script.write_text(json.dumps({"turns": [{"tool_uses": [call]}, {"text": "done"}]}))
    run = subprocess.run(
        [sys.executable, "-m", "dexa.cli", "run", "-p", "time?", "--model", f"scripted:{script}",
         "--output-format", "json", "--allowedTools", "mcp__time"],
        cwd=proj, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout)
    assert result["result"] == "done" and result["permission_denials"] == []


@pytest.mark.skipif(not CLAUDE.exists(), reason="Claude Code not installed: make test-deps (tools/claude-code)")
def test_claude_mcp_reads_what_dexa_wrote_and_dexa_reads_what_claude_wrote(
    world: tuple[Path, Path, dict[str, str]],
) -> None:
    _, proj, env = world
    _dexa(proj, env, "add", "-s", "user", "from-dexa", "--", "node", "srv.js")
    seen = subprocess.run(
        [str(CLAUDE), "mcp", "get", "from-dexa"], cwd=proj, env=env, capture_output=True, text=True, timeout=60
    )
    assert "Scope: User config (available in all your projects)" in seen.stdout, seen.stdout + seen.stderr
    assert "Command: node" in seen.stdout
    added = subprocess.run(
        [str(CLAUDE), "mcp", "add", "from-claude", "--", *TIME_ARGS],
        cwd=proj, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    detail = _dexa(proj, env, "get", "from-claude")
    assert "Scope: Local config (private to you in this project)" in detail.stdout
    assert "Status: ✔ Connected" in detail.stdout
