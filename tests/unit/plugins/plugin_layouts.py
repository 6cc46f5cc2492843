"""Realistic plugin and marketplace trees in the shapes of Claude Code's documented examples."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

COMMIT_MD = """---
allowed-tools: Bash(git add:*), Bash(git status:*), Bash(git commit:*)
description: Create a git commit
---

## Context

- Current git status: !`git status`
- Current git diff (staged and unstaged changes): !`git diff HEAD`

## Your task

Based on the above changes, create a single git commit.
"""

SECURE_SKILL = """---
name: secure-coding
description: Security review checklist for web code. Use when editing authentication or input handling.
allowed-tools: Read, Grep
---
# Secure coding

1. Validate input at the boundary.
2. Never log secrets. See ${CLAUDE_PLUGIN_ROOT}/docs/owasp.md.
"""

REVIEWER_AGENT = """---
name: code-reviewer
description: Expert code review specialist. Use proactively after writing or modifying code.
tools: Read, Grep, Glob, Bash
model: inherit
---
You are a senior code reviewer ensuring high standards of code quality and security.
"""

HOOKS = {
    "description": "Security reminder before edits",
    "hooks": {
        "PreToolUse": [
            {
                "matcher": "Edit|Write|MultiEdit",
                "hooks": [
                    {"type": "command", "command": "python3 ${CLAUDE_PLUGIN_ROOT}/hooks/security_reminder_hook.py"}
                ],
            }
        ],
    },
}


def write(path: Path, content: str | dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=2) if isinstance(content, dict) else content)
    return path


def git(*args: str, cwd: Path) -> str:
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@e",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@e",
        "PATH": "/usr/bin:/bin",
        "HOME": str(cwd),
    }
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


def git_repo(path: Path) -> str:
    """Commit everything under `path` into a fresh repository; returns HEAD."""
    git("init", "--quiet", "-b", "main", cwd=path)
    git("add", "-A", cwd=path)
    git("commit", "--quiet", "-m", "initial", cwd=path)
    return git("rev-parse", "HEAD", cwd=path)


def code_review_repo(root: Path) -> tuple[Path, str]:
    repo = root / "code-review-plugin"
    write(
        repo / ".claude-plugin" / "plugin.json",
        {
            "name": "code-review",
            "version": "2.0.1",
            "description": "Code review agents and commands",
            "author": {"name": "Review Team", "email": "review@example.com"},
            "license": "MIT",
        },
    )
    write(repo / "agents" / "code-reviewer.md", REVIEWER_AGENT)
    write(repo / "commands" / "review.md", "---\ndescription: Review the current diff\n---\nReview $ARGUMENTS")
    write(repo / "skills" / "review-checklist" / "SKILL.md", "---\ndescription: Review checklist\n---\nCheck it.")
    return repo, git_repo(repo)


def marketplace(root: Path, *, git_plugin_url: str | None = None) -> Path:
    market = root / "acme-marketplace"
    plugins: list[dict[str, Any]] = [
        {
            "name": "commit-commands",
            "source": "./plugins/commit-commands",
            "description": "Git commit workflows",
            "version": "1.0.0",
            "category": "productivity",
        },
        {"name": "security-guidance", "source": "security-guidance", "description": "Security hooks and skills"},
        {"name": "broken-plugin", "source": "./plugins/broken-plugin"},
        {
            "name": "inline-only",
            "source": "./plugins/inline-only",
            "strict": False,
            "commands": ["./extra/hello.md"],
            "description": "Defined entirely by the marketplace entry",
        },
    ]
    if git_plugin_url:
        plugins.append({"name": "code-review", "source": {"source": "url", "url": git_plugin_url}})
    write(
        market / ".claude-plugin" / "marketplace.json",
        {
            "name": "acme-tools",
            "owner": {"name": "DevTools Team", "email": "devtools@example.com"},
            "metadata": {"description": "Acme's internal plugins", "pluginRoot": "./plugins"},
            "plugins": plugins,
        },
    )
    commit = market / "plugins" / "commit-commands"
    write(
        commit / ".claude-plugin" / "plugin.json",
        {
            "name": "commit-commands",
            "version": "1.0.0",
            "description": "Git commit workflows",
            "author": {"name": "Acme"},
            "keywords": ["git"],
        },
    )
    write(commit / "commands" / "commit.md", COMMIT_MD)
    write(commit / "commands" / "commit-push-pr.md", "---\ndescription: Commit, push and open a PR\n---\nDo it all.")
    sec = market / "plugins" / "security-guidance"
    write(
        sec / ".claude-plugin" / "plugin.json",
        {"name": "security-guidance", "version": "0.3.0", "description": "Security reminders"},
    )
    write(sec / "hooks" / "hooks.json", HOOKS)
    write(sec / "hooks" / "security_reminder_hook.py", "import sys\nsys.exit(0)\n")
    write(sec / "skills" / "secure-coding" / "SKILL.md", SECURE_SKILL)
    write(
        sec / ".mcp.json",
        {
            "mcpServers": {
                "semgrep": {
                    "command": "${CLAUDE_PLUGIN_ROOT}/bin/semgrep-mcp",
                    "args": ["--config", "${CLAUDE_PLUGIN_ROOT}/rules"],
                    "env": {"DATA": "${CLAUDE_PLUGIN_DATA}"},
                }
            }
        },
    )
    write(sec / "bin" / "semgrep-mcp", "#!/bin/sh\nexit 0\n")
    write(market / "plugins" / "broken-plugin" / ".claude-plugin" / "plugin.json", '{"name": "broken-plugin",}')
    write(market / "plugins" / "inline-only" / "extra" / "hello.md", "---\ndescription: Say hello\n---\nHello $0!")
    write(market / "plugins" / "inline-only" / "commands" / "ignored.md", "not used: commands are replaced")
    return market
