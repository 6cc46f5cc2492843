"""`dexa integrations policy`: an admin sets what an org-added hosted server's reads, writes and tools get, from the
command line, and the staging gate of the next session follows it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from dexa.adapters.mcp.gate import McpCall, ToolHints
from dexa.adapters.sqlite.store import SqliteStore
from dexa.integrations.outputs.gate import StagingGate


def _dexa(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEXA_HOME": str(home), "HOME": str(home.parent), "COLUMNS": "120"}
    return subprocess.run(
        [sys.executable, "-m", "dexa.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


def _decide(home: Path, tool: str, *, read: bool) -> str:
    hints = ToolHints(read_only=read, destructive=not read)
    call = McpCall(
        server="linear", tool=tool, exposed_name=f"mcp__linear__{tool}", arguments={}, hints=hints, scope="integration"
    )

    async def decide() -> str:
        store = SqliteStore(home / "dexa.db")
        try:
            gate = StagingGate(kv=store)
            return (await gate.decision(call, kv=store, org_id="org_local", session_id="s")).decision
        finally:
            store.close()

    return asyncio.run(decide())


def test_an_admin_stages_a_hosted_servers_reads_and_denies_one_tool_from_the_cli(tmp_path: Path) -> None:
    home = tmp_path / "dexa-home"
    assert _dexa(home, "integrations", "allow", "https://mcp.corp.example/*").returncode == 0
    added = _dexa(home, "integrations", "add", "custom_mcp", "--name", "linear", "--url", "https://mcp.corp.example/l")
    assert added.returncode == 0, added.stderr
    assert _decide(home, "list_issues", read=True) == "direct"

    shown = _dexa(home, "integrations", "policy", "linear")
    assert shown.returncode == 0, shown.stderr
    assert "default (run)" in shown.stdout and "default (stage)" in shown.stdout

    set_ = _dexa(home, "integrations", "policy", "linear", "--reads", "stage", "--tool", "delete_issue=deny")
    assert set_.returncode == 0, set_.stderr
    assert "tool delete_issue" in set_.stdout and "deny" in set_.stdout
    assert _decide(home, "list_issues", read=True) == "stage"
    assert _decide(home, "delete_issue", read=False) == "deny"
    assert _decide(home, "create_issue", read=False) == "stage"

    back = _dexa(home, "integrations", "policy", "linear", "--reads", "default")
    assert back.returncode == 0 and "default (run)" in back.stdout and "deny" in back.stdout
    assert _decide(home, "list_issues", read=True) == "direct"


def test_bad_values_and_unknown_servers_are_refused_with_the_cause(tmp_path: Path) -> None:
    home = tmp_path / "dexa-home"
    bad = _dexa(home, "integrations", "policy", "linear", "--reads", "stage")
    assert bad.returncode == 2 and "no integration named 'linear'" in bad.stderr
    assert _dexa(home, "integrations", "allow", "https://mcp.corp.example/*").returncode == 0
    assert _dexa(home, "integrations", "add", "custom_mcp", "--name", "linear", "--url", "https://mcp.corp.example/l")
    wrong = _dexa(home, "integrations", "policy", "linear", "--writes", "sometimes")
    assert wrong.returncode == 2 and "writes = 'sometimes'" in wrong.stderr and "direct, stage" in wrong.stderr
    malformed = _dexa(home, "integrations", "policy", "linear", "--tool", "delete_issue")
    assert malformed.returncode == 2 and "TOOL=DECISION" in malformed.stderr
