"""Expand what the user typed before it is submitted: `/name args` becomes a command's rendered body.

result = await expand_prompt(text, ExpandContext(registry=ext.commands, cwd=cwd, workspace=ws, ...))
if isinstance(result, CommandResult): route it (built-in) or show result.message (error)
else: await engine.submit(session_id, result)
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from dexa.core.ports import Workspace
from dexa.memory.markdown import find_imports
from dexa.skills.grants import SkillGrants
from dexa.skills.model import Skill
from dexa.skills.registry import SkillRegistry
from dexa.skills.substitute import RenderContext, ShellRunner, render_allowed_tools, render_body

from .builtins import BUILTIN_COMMANDS, CommandResult, ExpandedPrompt

SHELL_TIMEOUT_S = 60.0
FILE_REFERENCE_LIMIT = 100_000


@dataclass(slots=True, kw_only=True)
class ExpandContext:
    registry: SkillRegistry
    cwd: str
    session_id: str = ""
    workspace: Workspace | None = None
    # `disableSkillShellExecution`: `!`cmd`` blocks become a policy marker.
    shell_enabled: bool = True
    grants: SkillGrants | None = None


def parse_slash(text: str) -> tuple[str, str] | None:
    """(`name`, `args`) for `/name args`; None for plain prompts and for paths like `/usr/bin/env is broken`."""
    stripped = text.strip()
    if not stripped.startswith("/") or len(stripped) < 2:
        return None
    head, _, rest = stripped[1:].partition(" ")
    head, sep, tail = head.partition("\n")
    if sep:
        rest = tail + (" " + rest if rest else "")
    if not head or "/" in head:
        return None
    return head, rest.strip()


def help_text(registry: SkillRegistry) -> str:
    lines = ["Built-in commands:"]
    lines += [f"  /{name:<12} {desc}" for name, desc in BUILTIN_COMMANDS.items()]
    custom = [s for s in registry.user_invocable() if s.name not in BUILTIN_COMMANDS]
    if custom:
        lines.append("Custom commands and skills:")
        for s in custom:
            hint = f" {s.argument_hint}" if s.argument_hint else ""
            label = f" ({s.source})" if s.source != "plugin" else " (plugin)"
            lines.append(f"  /{s.name}{hint} - {s.description}{label}")
    return "\n".join(lines)


def _shell(ctx: ExpandContext) -> ShellRunner | None:
    workspace = ctx.workspace
    if workspace is None:
        return None

    async def run(command: str) -> str:
        result = await workspace.exec(command, cwd=ctx.cwd, timeout_s=SHELL_TIMEOUT_S)
        out = result.stdout
        if result.exit_code != 0:
            out += (("\n" if out else "") + result.stderr).rstrip() + f"\n[exit code {result.exit_code}]"
        return out

    return run


def _reference_path(target: str, cwd: str, roots: tuple[str, ...]) -> str | None:
    full = os.path.realpath(os.path.join(cwd, os.path.expanduser(target)))
    inside = any(full == r or full.startswith(r.rstrip("/") + "/") for r in roots)
    return full if inside and os.path.isfile(full) else None


def _read_file(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(FILE_REFERENCE_LIMIT)


async def file_references(text: str, ctx: ExpandContext) -> str:
    """`@src/file.js` in a command body inlines that file (paths relative to cwd; only inside the workspace)."""
    blocks: list[str] = []
    extra = ctx.workspace.extra_roots if ctx.workspace is not None else ()
    roots = tuple(os.path.realpath(r) for r in (ctx.cwd, *extra))  # noqa: ASYNC240 - local path arithmetic
    for target in find_imports(text):
        full = _reference_path(target, ctx.cwd, roots)
        if full is None:
            continue
        try:
            data = await ctx.workspace.read_bytes(full) if ctx.workspace is not None else _read_file(full)
        except OSError:
            continue
        content = data[:FILE_REFERENCE_LIMIT].decode("utf-8", errors="replace")
        blocks.append(f'<file path="{full}">\n{content}\n</file>')
    if not blocks:
        return text
    return text.rstrip("\n") + "\n\n" + "\n\n".join(blocks)


async def render_command(skill: Skill, args: str, ctx: ExpandContext) -> ExpandedPrompt:
    render = RenderContext(
        session_id=ctx.session_id, project_dir=ctx.cwd, shell=_shell(ctx), shell_enabled=ctx.shell_enabled
    )
    body = await file_references(await render_body(skill, args, render), ctx)
    allowed = render_allowed_tools(skill, render)
    if ctx.grants is not None:
        ctx.grants.grant(skill.name, allowed, skill.disallowed_tools, survive_next_prompt=True)
    header = f"<command-name>/{skill.name}</command-name>\n<command-args>{args}</command-args>\n\n"
    if skill.kind == "skill":
        header += f"Base directory for this skill: {skill.base_dir}\n\n"
    return ExpandedPrompt(header + body, command=skill.name, model=skill.model, allowed_tools=allowed)


async def expand_prompt(text: str, ctx: ExpandContext) -> str | CommandResult:
    """Plain prompts come back unchanged; `/name args` expands, routes (built-in) or errors (unknown)."""
    parsed = parse_slash(text)
    if parsed is None:
        return text
    name, args = parsed
    if name in BUILTIN_COMMANDS:
        message = help_text(ctx.registry) if name == "help" else ""
        return CommandResult(kind="builtin", name=name, args=args, message=message)
    skill = ctx.registry.get(name)
    if skill is None:
        return CommandResult(kind="error", name=name, args=args, message=f"Unknown slash command: /{name}")
    if not skill.user_invocable:
        return CommandResult(
            kind="error",
            name=name,
            args=args,
            message=f"/{name} can only be invoked by the model (user-invocable: false)",
        )
    return await render_command(skill, args, ctx)
