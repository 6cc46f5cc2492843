"""Subagent definition files: format, validation, priority, tool selection, and the built-ins."""

from __future__ import annotations

from pathlib import Path

from dexa.agents import BUILTIN_AGENTS, discover_agents, plan_model_for
from dexa.agents.child_env import select_tools
from dexa.core.models import resolve_model
from dexa.skills.loader import PluginRef

REVIEWER = """---
name: code-reviewer
description: Reviews code for quality and best practices
tools: Read, Glob, Grep
model: sonnet
permissionMode: acceptEdits
maxTurns: 7
skills: [api-conventions]
---
You are a senior code reviewer.
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_agent_file_fields_are_parsed_as_claude_code_defines_them(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    write(repo / ".claude" / "agents" / "review" / "reviewer.md", REVIEWER)
    registry, problems = discover_agents(cwd=str(repo), home=str(tmp_path / "home"), builtins=BUILTIN_AGENTS)
    agent = registry.get("code-reviewer")
    assert problems == [] and agent is not None
    assert agent.tools == ("Read", "Glob", "Grep") and agent.model == "sonnet" and agent.max_turns == 7
    assert agent.permission_mode == "acceptEdits" and agent.skills == ("api-conventions",)
    assert agent.prompt == "You are a senior code reviewer." and agent.source == "project"
    assert registry.names()[-2:] == ["general-purpose", "Plan"]


def test_priority_is_cli_then_project_then_user_then_plugin_then_builtin(tmp_path: Path) -> None:
    home, repo = tmp_path / "home", tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    body = "---\nname: {name}\ndescription: from {where}\n---\nprompt"
    write(repo / ".claude" / "agents" / "a.md", body.format(name="shared", where="project"))
    write(home / ".claude" / "agents" / "a.md", body.format(name="shared", where="user"))
    write(home / ".claude" / "agents" / "b.md", body.format(name="general-purpose", where="user"))
    write(home / ".claude" / "agents" / "c.md", body.format(name="only-cli", where="user"))
    plugin_root = tmp_path / "plugin"
    write(plugin_root / "agents" / "sec" / "audit.md", body.format(name="audit", where="plugin"))
    registry, problems = discover_agents(
        cwd=str(repo),
        home=str(home),
        cli_agents='{"only-cli": {"description": "from cli", "prompt": "p"}}',
        plugins=[(PluginRef(name="tools", root=str(plugin_root)), [plugin_root / "agents"])],
        builtins=BUILTIN_AGENTS,
    )
    assert problems == []
    assert registry.get("shared").description == "from project"  # type: ignore[union-attr]
    assert registry.get("only-cli").description == "from cli"  # type: ignore[union-attr]
    assert registry.get("general-purpose").source == "user"  # type: ignore[union-attr]
    assert registry.get("tools:sec:audit").source == "plugin"  # type: ignore[union-attr]


def test_broken_agent_files_are_reported_by_file_and_field_and_skipped(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    no_desc = write(repo / ".claude" / "agents" / "x.md", "---\nname: x\n---\nbody")
    colon = write(repo / ".claude" / "agents" / "y.md", "---\nname: a:b\ndescription: d\n---\nbody")
    mode = write(repo / ".claude" / "agents" / "z.md", "---\nname: z\ndescription: d\npermissionMode: yolo\n---\n")
    plain = write(repo / ".claude" / "agents" / "notes.md", "just notes")
    registry, problems = discover_agents(cwd=str(repo), home=str(tmp_path / "home"))
    assert registry.names() == []
    assert {(p.file, p.key) for p in problems} == {
        (str(no_desc), "description"),
        (str(colon), "name"),
        (str(mode), "permissionMode"),
        (str(plain), "frontmatter"),
    }


def test_plugin_agents_cannot_set_permission_mode_hooks_or_servers(tmp_path: Path) -> None:
    root = tmp_path / "plugin"
    write(
        root / "agents" / "x.md",
        "---\nname: x\ndescription: d\npermissionMode: bypassPermissions\n"
        "hooks: {Stop: []}\nmcpServers: [db]\n---\nbody",
    )
    registry, _ = discover_agents(
        cwd=str(tmp_path), home=str(tmp_path / "h"), plugins=[(PluginRef(name="p", root=str(root)), [root / "agents"])]
    )
    agent = registry.get("p:x")
    assert agent is not None and agent.permission_mode is None and agent.hooks is None and agent.mcp_servers == ()


def test_tool_selection_applies_denylist_then_allowlist_and_never_offers_nesting() -> None:
    available = ["Read", "Write", "Bash", "Task", "AskUserQuestion", "mcp__db__query", "mcp__db__drop", "mcp__gh__pr"]
    assert select_tools(available, None) == ["Read", "Write", "Bash", "mcp__db__query", "mcp__db__drop", "mcp__gh__pr"]
    assert select_tools(available, ["Read", "Agent(worker)", "mcp__db"], ["mcp__db__drop"]) == [
        "Read",
        "mcp__db__query",
    ]
    assert select_tools(available, None, ["mcp__*", "Bash"]) == ["Read", "Write"]


def test_plan_alias_gives_a_plan_model_and_other_aliases_none() -> None:
    assert plan_model_for("sonnetplan", {}) == resolve_model("sonnet", {})
    assert plan_model_for("opusplan[1m]", {}) == resolve_model("opus[1m]", {})
    assert plan_model_for("sonnet", {}) is None
