"""`.mcp.json` loading in Claude Code's format: expansion, precedence, strict mode, org policy, bad input."""

from __future__ import annotations

import json
from pathlib import Path

from dexa.adapters.mcp.config import OrgMcpPolicy, expand, parse_servers, resolve_servers


def _write(path: Path, servers: dict) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"mcpServers": servers}))
    return str(path)


def test_var_with_default_uses_default_only_when_unset_or_empty() -> None:
    missing: list[str] = []
    assert expand("${BASE:-https://api.example.com}/mcp", {}, missing) == "https://api.example.com/mcp"
    assert expand("${BASE:-https://api.example.com}/mcp", {"BASE": "http://x"}, missing) == "http://x/mcp"
    assert expand("${BASE:-d}", {"BASE": ""}, missing) == "d"
    assert missing == []


def test_unset_var_without_default_stays_literal_and_is_reported(tmp_path: Path) -> None:
    servers, problems = parse_servers(
        {"mcpServers": {"db": {"command": "srv", "env": {"DB_URL": "${DB_URL}"}, "args": ["--k", "${KEY:-k1}"]}}},
        source="f.json",
        scope="project",
        env={},
    )
    assert servers[0].env == {"DB_URL": "${DB_URL}"} and servers[0].args == ("--k", "k1")
    assert problems[0].file == "f.json" and "DB_URL" in problems[0].message


def test_platform_credentials_are_never_expanded_into_a_server_config() -> None:
    servers, problems = parse_servers(
        {
            "mcpServers": {
                "s": {
                    "type": "http",
                    "url": "https://h/mcp",
                    "headers": {"Authorization": "Bearer ${ANTHROPIC_API_KEY}"},
                }
            }
        },
        source="f",
        scope="project",
        env={"ANTHROPIC_API_KEY": "sk-ant-secret"},
    )
    assert "sk-ant-secret" not in json.dumps(servers[0].headers)
    assert "platform credentials" in problems[0].message


def test_entries_without_type_are_stdio_but_a_url_needs_a_type() -> None:
    servers, problems = parse_servers(
        {
            "mcpServers": {
                "a": {"command": "node", "args": ["s.js"]},
                "b": {"url": "https://x"},
                "c": {"type": "ws", "url": "wss://x"},
                "d": {"type": "stdio"},
                "e": "nope",
            }
        },
        source="cfg.json",
        scope="project",
        env={},
    )
    assert [s.name for s in servers] == ["a"] and servers[0].transport == "stdio"
    messages = {p.key: p.message for p in problems}
    assert "url_missing_type" in messages["mcpServers.b"]
    assert "ws" in messages["mcpServers.c"] and "command" in messages["mcpServers.d"]
    assert "object" in messages["mcpServers.e"]


def test_session_config_beats_project_which_beats_user(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    _write(project / ".mcp.json", {"git": {"command": "project-git"}, "docs": {"command": "docs"}})
    home = tmp_path / "home"
    home.mkdir()
    (home / ".claude.json").write_text(
        json.dumps(
            {
                "mcpServers": {"git": {"command": "user-git"}, "notes": {"command": "notes"}},
                "projects": {str(project): {"mcpServers": {"docs": {"command": "local-docs"}}}},
            }
        )
    )
    cli = _write(tmp_path / "cli.json", {"git": {"command": "cli-git"}})
    resolved = resolve_servers(project_dir=str(project), config_files=[cli], home=home, env={})
    commands = {s.name: s.command for s in resolved.servers}
    assert commands == {"git": "cli-git", "docs": "local-docs", "notes": "notes"}
    assert resolved.get("git").scope == "session"


def test_strict_mcp_config_ignores_every_other_file(tmp_path: Path) -> None:
    _write(tmp_path / ".mcp.json", {"docs": {"command": "docs"}})
    cli = _write(tmp_path / "only.json", {"git": {"command": "git-server"}})
    resolved = resolve_servers(project_dir=str(tmp_path), config_files=[cli], strict=True, env={})
    assert [s.name for s in resolved.servers] == ["git"]


def test_mcp_config_accepts_inline_json(tmp_path: Path) -> None:
    resolved = resolve_servers(
        project_dir=str(tmp_path), config_files=['{"mcpServers": {"x": {"command": "y"}}}'], env={}
    )
    assert resolved.get("x").command == "y"


def test_org_servers_win_and_org_lists_filter_the_rest(tmp_path: Path) -> None:
    _write(
        tmp_path / ".mcp.json",
        {
            "crm": {"command": "shadow"},
            "ok": {"command": "ok-cmd"},
            "bad": {"type": "http", "url": "https://evil.example/mcp"},
        },
    )
    org = OrgMcpPolicy(
        servers={"crm": {"type": "http", "url": "https://crm.corp.example/mcp"}},
        allowed=[{"serverName": "ok"}, {"serverUrl": "https://*.corp.example/*"}],
        denied=[{"serverName": "ok-but-denied"}],
    )
    resolved = resolve_servers(project_dir=str(tmp_path), org=org, env={})
    assert {s.name: s.scope for s in resolved.servers} == {"crm": "org", "ok": "project"}
    blocked = [p for p in resolved.problems if "policy" in p.message]
    assert [p.key for p in blocked] == ["mcpServers.bad"]


def test_an_empty_org_allowlist_allows_nothing_but_org_servers(tmp_path: Path) -> None:
    _write(tmp_path / ".mcp.json", {"docs": {"command": "docs"}})
    org = OrgMcpPolicy(servers={"mine": {"command": "m"}}, allowed=[])
    assert [s.name for s in resolve_servers(project_dir=str(tmp_path), org=org, env={}).servers] == ["mine"]


def test_invalid_json_is_reported_with_file_and_line_and_does_not_raise(tmp_path: Path) -> None:
    (tmp_path / ".mcp.json").write_text('{"mcpServers": {\n  "a": {"command": }\n}}')
    resolved = resolve_servers(project_dir=str(tmp_path), config_files=[str(tmp_path / "missing.json")], env={})
    assert resolved.servers == ()
    text = " | ".join(f"{p.file}: {p.message}" for p in resolved.problems)
    assert ".mcp.json" in text and "line 2" in text and "missing.json" in text


def test_stdio_servers_run_in_the_project_and_get_claude_project_dir(tmp_path: Path) -> None:
    _write(tmp_path / ".mcp.json", {"s": {"command": "run", "args": ["${CLAUDE_PROJECT_DIR:-.}/x"]}})
    server = resolve_servers(project_dir=str(tmp_path), env={}).get("s")
    assert server.cwd == str(tmp_path) and server.args == (f"{tmp_path}/x",)
    assert server.env["CLAUDE_PROJECT_DIR"] == str(tmp_path)
