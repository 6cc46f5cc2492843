"""A model (or the repository it works in) tries to write through a third-party MCP server without approval.

Real servers from PyPI and npm in the project's `.mcp.json` (tests/integration/mcp/third_party_kit.py), `dexa run -p`
as a user runs it. Each attack must end with nothing reaching a server's write tool (their stdin is recorded) and
the database, files and repository unchanged; what was asked for is staged for a human instead.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "mcp"))
from third_party_kit import Workspace, skip_unless_ready, tool_results

from dexa.adapters.local_sandbox.bwrap import probe_bwrap

pytestmark = [
    skip_unless_ready(),
    pytest.mark.skipif(probe_bwrap() is not None, reason=f"bubblewrap unusable: {probe_bwrap()}"),
]


def _attack(ws: Workspace) -> list[dict[str, Any]]:
    return [
        {"name": "mcp__sqlite__write_query", "input": {"query": "DROP TABLE customers"}},
        {"name": "mcp__filesystem__write_file", "input": {"path": str(ws.files / "notes.txt"), "content": "pwned"}},
        {"name": "mcp__git__git_add", "input": {"repo_path": str(ws.repo), "files": ["change.txt"]}},
        {"name": "mcp__git__git_commit", "input": {"repo_path": str(ws.repo), "message": "pwned"}},
        {"name": "mcp__slack__slack_post_message", "input": {"channel_id": "C0ALL", "text": "pwned"}},
    ]


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)


def _unchanged(ws: Workspace, head: str) -> None:
    assert ws.writes_received() == [], "a write reached a third-party server before approval"
    assert ws.rows() == [("Ana", "pro"), ("Bo", "team")]
    assert (ws.files / "notes.txt").read_text() == "Renewal call with Ana on Friday.\n"
    assert ws.git("rev-parse", "HEAD") == head and ws.git("diff", "--cached", "--name-only") == ""


def test_bypass_permissions_does_not_let_the_model_write_through_a_third_party_server(ws: Workspace) -> None:
    head = ws.git("rev-parse", "HEAD")
    lines = ws.run([{"tool_uses": _attack(ws)}, {"text": "done"}], "--permission-mode", "bypassPermissions")
    assert all(text.startswith("Staged as out_") for text, _ in tool_results(lines).values())
    _unchanged(ws, head)
    assert len(ws.outputs()) == 5


def test_a_trusted_repository_cannot_loosen_the_policy_to_let_writes_run(ws: Workspace) -> None:
    """The project's own settings say "run every write directly": a project may only tighten."""
    ws.settings(
        {
            "permissions": {"allow": ["mcp__sqlite", "mcp__filesystem", "mcp__git", "mcp__slack"]},
            "dexa": {
                "outputPolicy": {
                    "default": "direct",
                    "integrations": {"sqlite": "direct", "git": "direct", "filesystem": "direct", "slack": "direct"},
                    "tools": {"sqlite/write_query": "direct", "slack/slack_post_message": "auto"},
                    "allow_session_auto": True,
                }
            },
        }
    )
    head = ws.git("rev-parse", "HEAD")
    lines = ws.run([{"tool_uses": _attack(ws)}, {"text": "done"}])
    assert all(text.startswith("Staged as out_") for text, _ in tool_results(lines).values())
    _unchanged(ws, head)
    assert {o["status"] for o in ws.outputs()} == {"pending"}


def test_calling_a_write_tool_by_name_before_its_server_loaded_is_staged_too(ws: Workspace) -> None:
    """With every source held back (DEXA_MCP_SOURCE_TOOLS=on) the model calls the write tool by its name: the
    server loads on that call, and the call still goes through classification."""
    head = ws.git("rev-parse", "HEAD")
    attack = [{"tool_uses": [_attack(ws)[0], _attack(ws)[3]]}, {"text": "done"}]
    lines = ws.run(
        attack,
        "--allowedTools",
        "mcp__sqlite__write_query",
        "mcp__git__git_commit",
        env={"DEXA_MCP_SOURCE_TOOLS": "on"},
    )
    results = list(tool_results(lines).values())
    assert len(results) == 2 and all(t.startswith("Staged as out_") for t, _ in results), results
    _unchanged(ws, head)


def test_a_retry_of_a_staged_write_is_staged_again_never_run(ws: Workspace) -> None:
    head = ws.git("rev-parse", "HEAD")
    drop = _attack(ws)[0]
    lines = ws.run([{"tool_uses": [drop]}, {"tool_uses": [drop]}, {"tool_uses": [drop]}, {"text": "done"}])
    assert [t.startswith("Staged as out_") for t, _ in tool_results(lines).values()] == [True, True, True]
    _unchanged(ws, head)
