"""Four real third-party MCP servers configured the Claude Code way (a workspace's `.mcp.json`), run by `dexa run -p`.

PyPI mcp-server-sqlite (tools/mcp-py), mcp-server-git, npm server-filesystem and server-slack (tools/mcp). Each is
started through `tee`, so the test sees every JSON-RPC message that reached the server, as well as its state (the
database rows, the files, the repository). The model is scripted (`--model scripted:`), nothing needs the network.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dexa.adapters.sqlite.store import SqliteStore
from dexa.config.trust import set_trust

REPO = Path(__file__).resolve().parents[3]
NODE_MODULES = REPO / "tools/mcp/node_modules/@modelcontextprotocol"
FILESYSTEM_JS = NODE_MODULES / "server-filesystem/dist/index.js"
SLACK_JS = NODE_MODULES / "server-slack/dist/index.js"
SQLITE_BIN = REPO / "tools/mcp-py/.venv/bin/mcp-server-sqlite"
GIT_BIN = Path(sys.prefix) / "bin/mcp-server-git"
LOCAL_ORG = "org_local"

WRITE_TOOLS = {
    "sqlite": {"write_query", "create_table", "append_insight"},
    "filesystem": {"write_file", "edit_file", "create_directory", "move_file"},
    "git": {"git_commit", "git_add", "git_reset", "git_create_branch", "git_checkout"},
    "slack": {"slack_post_message", "slack_reply_to_thread", "slack_add_reaction"},
}


def missing() -> str | None:
    """Why these tests cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed"
    for path, how in (
        (FILESYSTEM_JS, "npm ci in tools/mcp"),
        (SLACK_JS, "npm ci in tools/mcp"),
        (SQLITE_BIN, "make test-deps (tools/mcp-py)"),
        (GIT_BIN, "uv sync (mcp-server-git)"),
    ):
        if not path.exists():
            return f"{path} is missing: {how}"
    return None


class Workspace:
    """A user's project with four servers in its `.mcp.json`, a home that trusts it, and a Dexa home."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.home = tmp / "home"
        self.dexa_home = tmp / "dexa-home"
        self.root = tmp / "project"
        self.files = self.root / "files"
        self.repo = self.root / "repo"
        self.db = self.root / "data" / "app.db"
        self.logs = self.root / "logs"
        for d in (self.home, self.dexa_home, self.files, self.repo, self.db.parent, self.logs):
            d.mkdir(parents=True)
        (self.files / "notes.txt").write_text("Renewal call with Ana on Friday.\n")
        with sqlite3.connect(self.db) as db:
            db.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, plan TEXT)")
            db.executemany("INSERT INTO customers (name, plan) VALUES (?, ?)", [("Ana", "pro"), ("Bo", "team")])
        git = ["git", "-C", str(self.repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
        subprocess.run(["git", "init", "-q", str(self.repo)], check=True)
        (self.repo / "README.md").write_text("hello\n")
        subprocess.run([*git, "add", "README.md"], check=True)
        subprocess.run([*git, "commit", "-q", "-m", "first"], check=True)
        (self.repo / "change.txt").write_text("uncommitted\n")
        self.write_mcp_json()
        set_trust(str(self.root), str(self.home))  # the user accepted the trust dialog for this project

    def logged(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
        """A server entry whose stdin is copied to logs/<name>.jsonl on its way in."""
        tee = f'tee -a "{self.logs}/{name}.jsonl" | exec "$0" "$@"'
        entry: dict[str, Any] = {"command": "/bin/sh", "args": ["-c", tee, *argv]}
        if env:
            entry["env"] = env
        return entry

    def write_mcp_json(self) -> None:
        servers = {
            "sqlite": self.logged("sqlite", [str(SQLITE_BIN), "--db-path", str(self.db)]),
            "filesystem": self.logged("filesystem", ["node", str(FILESYSTEM_JS), str(self.files)]),
            "git": self.logged("git", [str(GIT_BIN), "--repository", str(self.repo)]),
            "slack": self.logged(
                "slack", ["node", str(SLACK_JS)], env={"SLACK_BOT_TOKEN": "xoxb-test-token", "SLACK_TEAM_ID": "T0TEST"}
            ),
        }
        (self.root / ".mcp.json").write_text(json.dumps({"mcpServers": servers}, indent=2))

    def settings(self, doc: dict[str, Any], *, scope: str = "project") -> None:
        base = self.home if scope == "user" else self.root
        path = base / ".claude" / "settings.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc))

    def run(self, turns: list[dict[str, Any]], *args: str, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """`dexa run -p` with stream-json output; returns its messages (the last is the result)."""
        script = self.tmp / f"script-{len(list(self.tmp.glob('script-*')))}.json"
        script.write_text(json.dumps({"turns": turns}))
        env = {
            **os.environ,
            "HOME": str(self.home),
            "DEXA_HOME": str(self.dexa_home),
            "ANTHROPIC_API_KEY": "x",
            **(env or {}),
        }
        done = subprocess.run(
            [sys.executable, "-m", "dexa.cli", "run", "-p", "tidy up the customer records",
             "--model", f"scripted:{script}", "--output-format", "stream-json", "--verbose", *args],
            cwd=self.root, env=env, capture_output=True, text=True, timeout=240,
        )  # fmt: skip
        lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        assert lines and lines[-1]["type"] == "result", done.stderr[-4000:]
        self.stderr = done.stderr
        return lines

    # ------------------------------------------------------------ what happened

    def rows(self) -> list[tuple[str, str]]:
        with sqlite3.connect(self.db) as db:
            return [tuple(r) for r in db.execute("SELECT name, plan FROM customers ORDER BY id")]

    def git(self, *args: str) -> str:
        return subprocess.run(["git", "-C", str(self.repo), *args], capture_output=True, text=True, check=True).stdout

    def calls_received(self, server: str) -> list[dict[str, Any]]:
        """Every tools/call request that reached the server's stdin."""
        log = self.logs / f"{server}.jsonl"
        if not log.exists():
            return []
        messages = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        return [m["params"] for m in messages if m.get("method") == "tools/call"]

    def writes_received(self) -> list[tuple[str, str]]:
        return [
            (server, call["name"])
            for server, tools in WRITE_TOOLS.items()
            for call in self.calls_received(server)
            if call["name"] in tools
        ]

    def outputs(self) -> list[dict[str, Any]]:
        """The staged outputs in Dexa's database, oldest first."""

        async def read() -> list[dict[str, Any]]:
            store = SqliteStore(self.dexa_home / "dexa.db")
            try:
                return await store.kv_list("outputs", org_id=LOCAL_ORG)
            finally:
                store.close()

        docs = asyncio.run(read())
        return sorted(docs, key=lambda d: d.get("created_at", 0))


def tool_results(lines: list[dict[str, Any]]) -> dict[str, tuple[str, bool]]:
    """tool_use_id -> (text, is_error), from the stream's user messages."""
    out: dict[str, tuple[str, bool]] = {}
    for message in lines:
        if message.get("type") != "user":
            continue
        for block in message["message"]["content"]:
            if block.get("type") != "tool_result":
                continue
            content = block.get("content")
            text = (
                "".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
                if isinstance(content, list)
                else str(content)
            )
            out[block["tool_use_id"]] = (text, bool(block.get("is_error")))
    return out


def tool_use_ids(lines: list[dict[str, Any]]) -> dict[str, str]:
    """tool_use_id -> tool name, from the stream's assistant messages."""
    return {
        b["id"]: b["name"]
        for m in lines
        if m.get("type") == "assistant"
        for b in m["message"]["content"]
        if b.get("type") == "tool_use"
    }


def skip_unless_ready() -> pytest.MarkDecorator:
    reason = missing()
    return pytest.mark.skipif(reason is not None, reason=reason or "")
