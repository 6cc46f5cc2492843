"""Where Claude Code's settings files live (reference §1.1)."""

from __future__ import annotations

import os
from collections.abc import Mapping


def local_settings_dir(cwd: str, home: str) -> str:
    """Where `.claude/settings.local.json` lives: the git repo root (main checkout for a worktree), else cwd."""
    path = os.path.abspath(cwd)
    while True:
        dotgit = os.path.join(path, ".git")
        if os.path.isdir(dotgit):
            root = path
            break
        if os.path.isfile(dotgit):
            root = _main_checkout(dotgit) or path
            break
        parent = os.path.dirname(path)
        if parent == path:
            return os.path.abspath(cwd)
        path = parent
    return os.path.abspath(cwd) if os.path.abspath(root) == os.path.abspath(home) else root


def _main_checkout(dotgit_file: str) -> str | None:
    try:
        with open(dotgit_file, encoding="utf-8") as fh:
            line = fh.readline().strip()
    except OSError:
        return None
    if not line.startswith("gitdir:"):
        return None
    gitdir = os.path.normpath(os.path.join(os.path.dirname(dotgit_file), line[len("gitdir:") :].strip()))
    marker = f"{os.sep}.git{os.sep}worktrees{os.sep}"
    return gitdir.split(marker, 1)[0] if marker in gitdir else None


def user_config_dir(home: str, env: Mapping[str, str]) -> str:
    return env.get("CLAUDE_CONFIG_DIR") or os.path.join(home, ".claude")
