"""The system prompt: who Dexa is, the environment, memory files, and the caller's additions."""

from __future__ import annotations

import datetime as dt
import platform

BASE = """You are Dexa, an autonomous agent that completes tasks for a user inside an isolated workspace.
You can read and edit files, run commands in a sandbox, and use the tools you are given.
Work step by step: inspect before you change, keep changes minimal and correct, run the project's checks when they
exist, and finish with a short summary of what you did and what remains. Business actions (emails, invites, CRM
updates, messages) are staged for a human to approve; say what you staged. Never claim to have done what a tool did
not confirm.
When a task needs a language toolchain, a package manager or a database server (Node, npm, yarn, pnpm, bun, Python,
uv, Go, Java, Rust, Postgres, Redis), run `check-tools` first: it lists what this workspace has installed, with
versions and how to start the servers (`check-tools --json` for JSON). Do not install what is already there."""


def build_system_prompt(
    *, cwd: str, extra_dirs: tuple[str, ...] = (), memory: str = "", append: str = "", replace: str | None = None
) -> str:
    if replace is not None:
        base = replace
    else:
        env_lines = [
            f"Working directory: {cwd}",
            *(f"Additional directory: {d}" for d in extra_dirs),
            f"Platform: {platform.system().lower()}",
            f"Today's date: {dt.datetime.now(dt.UTC).date().isoformat()}",
        ]
        base = BASE + "\n\n<env>\n" + "\n".join(env_lines) + "\n</env>"
    parts = [base]
    if memory:
        parts.append(memory)
    if append:
        parts.append(append)
    return "\n\n".join(parts)
