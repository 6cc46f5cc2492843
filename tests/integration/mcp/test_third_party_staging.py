"""One side-effect policy for every MCP server: real third-party servers from PyPI and npm, in a project's
`.mcp.json`, driven by `dexa run -p` as a customer runs it (issue 16).

Reads run and return real data. Writes are staged: nothing with a side effect reaches the server (its stdin is
recorded), the database, files and repository are unchanged, and each staged output previews what would happen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from third_party_kit import Workspace, skip_unless_ready, tool_results, tool_use_ids

from dexa.adapters.local_sandbox.bwrap import probe_bwrap

pytestmark = [
    skip_unless_ready(),
    pytest.mark.skipif(probe_bwrap() is not None, reason=f"bubblewrap unusable: {probe_bwrap()}"),
]


def _use(name: str, **arguments: Any) -> dict[str, Any]:
    return {"name": name, "input": arguments}


def _reads(ws: Workspace) -> list[dict[str, Any]]:
    return [
        _use("mcp__sqlite__read_query", query="SELECT name, plan FROM customers ORDER BY id"),
        _use("mcp__sqlite__list_tables"),
        _use("mcp__filesystem__read_text_file", path=str(ws.files / "notes.txt")),
        _use("mcp__git__git_status", repo_path=str(ws.repo)),
    ]


def _writes(ws: Workspace) -> list[dict[str, Any]]:
    return [
        _use("mcp__sqlite__write_query", query="UPDATE customers SET plan = 'free' WHERE name = 'Ana'"),
        _use("mcp__sqlite__write_query", query="DELETE FROM customers WHERE name = 'Bo'"),
        _use("mcp__filesystem__write_file", path=str(ws.files / "new.txt"), content="written by the agent"),
        _use("mcp__git__git_add", repo_path=str(ws.repo), files=["change.txt"]),
        _use("mcp__git__git_commit", repo_path=str(ws.repo), message="agent commit"),
        _use("mcp__slack__slack_post_message", channel_id="C0SALES", text="Ana's plan changes to free today"),
    ]


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)


def test_reads_run_and_every_write_is_staged_even_when_allowed_tools_allows_it(ws: Workspace) -> None:
    head = ws.git("rev-parse", "HEAD")
    turns = [{"tool_uses": _reads(ws)}, {"tool_uses": _writes(ws)}, {"text": "done"}]
    allowed = ["--allowedTools", "mcp__sqlite", "mcp__filesystem", "mcp__git", "mcp__slack"]
    lines = ws.run(turns, *allowed)

    init = lines[0]
    assert {s["name"]: s["status"] for s in init["mcp_servers"]} == {
        "sqlite": "connected",
        "filesystem": "connected",
        "git": "connected",
        "slack": "connected",
    }, ws.stderr[-3000:]
    names = tool_use_ids(lines)
    results = [(names[i], *r) for i, r in tool_results(lines).items()]
    assert len(results) == 10
    reads, writes = results[:4], results[4:]
    # Reads reached their servers and returned real data.
    assert not any(error for _, _, error in reads), reads
    assert "Ana" in reads[0][1] and "team" in reads[0][1]
    assert "customers" in reads[1][1]
    assert "Renewal call with Ana" in reads[2][1]
    assert "change.txt" in reads[3][1]
    # Writes were staged, each with its own output id, none an error.
    for name, text, error in writes:
        assert not error and text.startswith("Staged as out_"), (name, text)
        assert "NOT been sent or applied" in text

    # Nothing with a side effect reached any server, and nothing changed.
    assert ws.writes_received() == []
    assert {c["name"] for c in ws.calls_received("sqlite")} == {"read_query", "list_tables"}
    assert ws.calls_received("slack") == []
    assert ws.rows() == [("Ana", "pro"), ("Bo", "team")]
    assert not (ws.files / "new.txt").exists()
    assert ws.git("rev-parse", "HEAD") == head
    assert ws.git("diff", "--cached", "--name-only") == ""

    # The staged outputs, typed where the server is known, generic otherwise.
    outputs = ws.outputs()
    assert [(o["server"], o["tool"], o["status"]) for o in outputs] == [
        ("sqlite", "write_query", "pending"),
        ("sqlite", "write_query", "pending"),
        ("filesystem", "write_file", "pending"),
        ("git", "git_add", "pending"),
        ("git", "git_commit", "pending"),
        ("slack", "slack_post_message", "pending"),
    ]
    update, delete, write_file, _add, commit, slack = outputs
    assert update["kind"] == "sql_change" and update["target"] == "SQL UPDATE"
    assert "UPDATE customers SET plan = 'free' WHERE name = 'Ana'" in update["preview"]
    assert delete["target"] == "SQL DELETE"
    assert update["arguments"] == {"query": "UPDATE customers SET plan = 'free' WHERE name = 'Ana'"}
    assert slack["kind"] == "chat_message" and slack["target"] == "chat: C0SALES"
    assert slack["preview"] == "C0SALES: Ana's plan changes to free today"
    assert slack["arguments"] == {"channel_id": "C0SALES", "text": "Ana's plan changes to free today"}
    assert write_file["kind"] == "mcp_call" and write_file["target"] == "filesystem: write_file"
    assert write_file["preview"].startswith("filesystem · write_file\n")
    assert '"content": "written by the agent"' in write_file["preview"]
    assert str(ws.files / "new.txt") in write_file["preview"]
    assert commit["target"] == "git: git_commit" and '"message": "agent commit"' in commit["preview"]
    assert all(o["policy"] for o in outputs)
    assert lines[-1]["result"] == "done"


def test_staging_needs_no_permission_prompt_but_unallowed_reads_are_still_denied(ws: Workspace) -> None:
    """Headless with no --allowedTools: a staged write needs no approval to be staged; a read still does."""
    turns = [
        {"tool_uses": [_use("mcp__sqlite__read_query", query="SELECT name FROM customers")]},
        {"tool_uses": [_use("mcp__sqlite__write_query", query="DELETE FROM customers")]},
        {"text": "done"},
    ]
    lines = ws.run(turns)
    result = lines[-1]
    assert [d["tool_name"] for d in result["permission_denials"]] == ["mcp__sqlite__read_query"]
    texts = list(tool_results(lines).values())
    assert texts[1][0].startswith("Staged as out_") and not texts[1][1]
    assert ws.calls_received("sqlite") == [] and ws.rows() == [("Ana", "pro"), ("Bo", "team")]
    (staged,) = ws.outputs()
    assert staged["preview"].startswith("DELETE FROM customers")


def test_a_deny_rule_still_denies_a_call_that_would_be_staged(ws: Workspace) -> None:
    turns = [{"tool_uses": [_use("mcp__git__git_commit", repo_path=str(ws.repo), message="x")]}, {"text": "done"}]
    lines = ws.run(turns, "--disallowedTools", "mcp__git__git_commit")
    (text, error) = next(iter(tool_results(lines).values()))
    assert error and "denied" in text
    assert ws.outputs() == [] and ws.writes_received() == []


def test_user_settings_can_let_one_servers_writes_run_and_a_project_can_only_tighten(ws: Workspace) -> None:
    ws.settings({"dexa": {"outputPolicy": {"integrations": {"sqlite": "direct"}}}}, scope="user")
    ws.settings({"dexa": {"outputPolicy": {"tools": {"sqlite/read_query": "stage", "git/git_commit": "direct"}}}})
    turns = [
        {
            "tool_uses": [
                _use("mcp__sqlite__write_query", query="UPDATE customers SET plan = 'free' WHERE name = 'Bo'"),
                _use("mcp__sqlite__read_query", query="SELECT name FROM customers"),
                _use("mcp__git__git_commit", repo_path=str(ws.repo), message="agent commit"),
            ]
        },
        {"text": "done"},
    ]
    head = ws.git("rev-parse", "HEAD")
    lines = ws.run(turns, "--allowedTools", "mcp__sqlite", "mcp__git")
    write, read, commit = tool_results(lines).values()
    assert not write[1] and not write[0].startswith("Staged"), write  # the user's own rule: it ran
    assert ws.rows() == [("Ana", "pro"), ("Bo", "free")]
    assert ws.writes_received() == [("sqlite", "write_query")]  # the probe sees a write that did reach a server
    assert read[0].startswith("Staged as out_")  # the project tightened a read
    assert commit[0].startswith("Staged as out_")  # ... but could not loosen a write
    assert ws.git("rev-parse", "HEAD") == head
    assert [(o["tool"], o["policy"]) for o in ws.outputs()] == [
        ("read_query", "project.tools.sqlite/read_query"),
        ("git_commit", "annotation.write"),
    ]
