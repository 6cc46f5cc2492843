"""Custom slash commands: discovery and namespacing, expansion, built-in routing and legacy permission rules."""

from __future__ import annotations

import asyncio
from pathlib import Path

from dexa.commands import CommandResult, ExpandContext, ExpandedPrompt, discover_commands, expand_prompt
from dexa.commands.rules import translate_slash_rule
from dexa.skills import SkillGrants, SkillRegistry, discover_skills
from dexa.testing.fakes import DirWorkspace

COMMIT = """---
allowed-tools: Bash(git add:*), Bash(git status:*), Bash(git commit:*)
argument-hint: [message]
description: Create a git commit
model: haiku
---
## Context

- Current status: !`echo clean-tree`

## Your task

Create a single git commit with message: $ARGUMENTS (first word: $0)
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def project(tmp_path: Path) -> tuple[Path, Path, SkillRegistry]:
    home, repo = tmp_path / "home", tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    write(repo / ".claude" / "commands" / "commit.md", COMMIT)
    write(repo / ".claude" / "commands" / "frontend" / "component.md", "Create a React component named $0.")
    write(repo / ".claude" / "commands" / "review.md", "Review @src/app.py for bugs.")
    write(home / ".claude" / "commands" / "commit.md", "user commit (shadowed)")
    write(home / ".claude" / "commands" / "standup.md", "---\ndescription: Write my standup\n---\nstandup")
    write(repo / "src" / "app.py", "print('hello')\n")
    commands, problems = discover_commands(cwd=str(repo), home=str(home))
    assert problems == []
    return home, repo, SkillRegistry(commands)


def test_commands_are_namespaced_by_subdirectory_and_project_beats_user(tmp_path: Path) -> None:
    _, _, registry = project(tmp_path)
    assert sorted(registry.names()) == ["commit", "frontend:component", "review", "standup"]
    commit = registry.get("commit")
    assert commit is not None and commit.source == "project" and commit.description == "Create a git commit"
    assert registry.get("component") is registry.get("frontend:component")  # bare stem while unambiguous
    standup = registry.get("standup")
    assert standup is not None and standup.source == "user"


def test_slash_command_expands_arguments_shell_output_and_grants_its_tools(tmp_path: Path) -> None:
    _, repo, registry = project(tmp_path)
    grants = SkillGrants(cwd=str(repo), home=str(tmp_path))
    ctx = ExpandContext(registry=registry, cwd=str(repo), workspace=DirWorkspace(repo), grants=grants)
    out = asyncio.run(expand_prompt("/commit fix the parser", ctx))
    assert isinstance(out, ExpandedPrompt) and out.command == "commit" and out.model == "haiku"
    assert "message: fix the parser (first word: fix)" in out
    assert "- Current status: clean-tree" in out
    assert out.startswith("<command-name>/commit</command-name>\n<command-args>fix the parser</command-args>")
    assert [g.skill for g in grants.grants] == ["commit"]
    grants.on_user_prompt()  # the command's own prompt submission keeps the grant for its turn
    assert [g.skill for g in grants.grants] == ["commit"]
    grants.on_user_prompt()
    assert grants.grants == []


def test_file_references_in_a_command_are_inlined(tmp_path: Path) -> None:
    _, repo, registry = project(tmp_path)
    out = asyncio.run(expand_prompt("/review", ExpandContext(registry=registry, cwd=str(repo))))
    assert f"<file path=\"{repo / 'src' / 'app.py'}\">\nprint('hello')" in out


def test_builtins_route_and_unknown_commands_error_and_plain_prompts_pass_through(tmp_path: Path) -> None:
    _, repo, registry = project(tmp_path)
    ctx = ExpandContext(registry=registry, cwd=str(repo))
    compact = asyncio.run(expand_prompt("/compact keep the API notes", ctx))
    assert compact == CommandResult(kind="builtin", name="compact", args="keep the API notes")
    helped = asyncio.run(expand_prompt("/help", ctx))
    assert isinstance(helped, CommandResult) and "/commit [message] - Create a git commit" in helped.message
    for name in ("clear", "cost", "model", "permissions", "memory", "rewind", "status", "agents"):
        result = asyncio.run(expand_prompt(f"/{name}", ctx))
        assert isinstance(result, CommandResult) and result.kind == "builtin" and result.name == name
    unknown = asyncio.run(expand_prompt("/nope now", ctx))
    assert isinstance(unknown, CommandResult) and unknown.kind == "error" and "/nope" in unknown.message
    assert asyncio.run(expand_prompt("fix /usr/bin/env usage", ctx)) == "fix /usr/bin/env usage"
    assert asyncio.run(expand_prompt("/usr/bin/env is broken", ctx)) == "/usr/bin/env is broken"


def test_skills_are_typed_as_slash_commands_and_beat_same_named_commands(tmp_path: Path) -> None:
    home, repo, _ = project(tmp_path)
    write(repo / ".claude" / "skills" / "commit" / "SKILL.md", "---\ndescription: skill commit\n---\nskill body $0")
    skills, _ = discover_skills(cwd=str(repo), home=str(home))
    commands, _ = discover_commands(cwd=str(repo), home=str(home))
    registry = SkillRegistry([*skills, *commands])
    out = asyncio.run(expand_prompt("/commit now", ExpandContext(registry=registry, cwd=str(repo))))
    assert "skill body now" in out and "Base directory for this skill:" in out


def test_legacy_slash_command_rules_translate_to_skill_rules() -> None:
    assert translate_slash_rule("SlashCommand") == "Skill"
    assert translate_slash_rule("SlashCommand:/commit") == "Skill(commit)"
    assert translate_slash_rule("SlashCommand:/review-pr:*") == "Skill(review-pr *)"
    assert translate_slash_rule("Bash(ls)") == "Bash(ls)"
