"""Render a skill or command body: argument tokens, `${CLAUDE_*}` variables, `!`cmd`` pre-execution (§6.5).

Order matters and follows Claude Code: arguments first, then variables, then shell blocks run and their output is
inlined once (never re-scanned, so command output cannot inject further substitutions).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from .model import Skill

# `\$1` escapes; `$ARGUMENTS[2]`, `$ARGUMENTS`, `$0`, `$name`.
_ARG_TOKEN = re.compile(r"(\\?)\$(ARGUMENTS\[(\d+)\]|ARGUMENTS\b|(\d+)|([A-Za-z_][A-Za-z0-9_]*))")
_VAR = re.compile(r"\$\{(CLAUDE_[A-Z_]+)\}")
_INLINE_SHELL = re.compile(r"(^|(?<=\s))!`([^`\n]+)`", re.MULTILINE)
_FENCED_SHELL = re.compile(r"^```!\s*\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
SHELL_DISABLED = "[shell command execution disabled by policy]"
SHELL_OUTPUT_LIMIT = 30_000

ShellRunner = Callable[[str], Awaitable[str]]


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderContext:
    session_id: str = ""
    project_dir: str = ""
    effort: str = ""
    # Runs `!` blocks through the session's workspace; None (or shell_enabled=False) leaves a policy marker.
    shell: ShellRunner | None = None
    shell_enabled: bool = True
    extra_vars: Mapping[str, str] = field(default_factory=dict)


def split_arguments(args: str) -> list[str]:
    """Shell-style quoting, as Claude Code does; unbalanced quotes fall back to whitespace splitting."""
    try:
        return shlex.split(args)
    except ValueError:
        return args.split()


def substitute_arguments(body: str, args: str, *, names: tuple[str, ...] = ()) -> str:
    """Expand `$ARGUMENTS`, 0-based `$N` / `$ARGUMENTS[N]` and declared `$name` tokens."""
    values = split_arguments(args)
    used_arguments = False

    def repl(m: re.Match[str]) -> str:
        nonlocal used_arguments
        escaped, token = m.group(1), m.group(2)
        index = m.group(3) or m.group(4)
        named = m.group(5)
        if named is not None and named not in names:
            return m.group(0)  # `$HOME` and friends belong to the shell
        if escaped:
            return "$" + token
        if token == "ARGUMENTS":
            used_arguments = True
            return args
        used_arguments = True
        if index is not None:
            i = int(index)
            return values[i] if i < len(values) else m.group(0)
        assert named is not None
        i = names.index(named)
        return values[i] if i < len(values) else ""

    out = _ARG_TOKEN.sub(repl, body)
    if not used_arguments and args.strip():
        out = out.rstrip("\n") + f"\n\nARGUMENTS: {args}"
    return out


def substitute_variables(text: str, values: Mapping[str, str]) -> str:
    return _VAR.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def skill_variables(skill: Skill, ctx: RenderContext) -> dict[str, str]:
    values = {
        "CLAUDE_SESSION_ID": ctx.session_id,
        "CLAUDE_SKILL_DIR": skill.base_dir,
        "CLAUDE_PROJECT_DIR": ctx.project_dir,
        "CLAUDE_EFFORT": ctx.effort,
    }
    if skill.plugin_root:
        values["CLAUDE_PLUGIN_ROOT"] = skill.plugin_root
        values["CLAUDE_PLUGIN_DATA"] = skill.plugin_data or ""
    values.update(ctx.extra_vars)
    return values


async def run_shell_blocks(text: str, ctx: RenderContext) -> str:
    """Replace `!`cmd`` and ```` ```! ```` blocks with their output (or a marker when shell is disabled)."""
    if not _INLINE_SHELL.search(text) and not _FENCED_SHELL.search(text):
        return text
    pieces: list[tuple[int, int, str]] = []
    for m in _FENCED_SHELL.finditer(text):
        pieces.append((m.start(), m.end(), m.group(1)))
    for m in _INLINE_SHELL.finditer(text):
        if not any(s <= m.start() < e for s, e, _ in pieces):
            pieces.append((m.start(2) - 2, m.end(), m.group(2)))
    pieces.sort()
    out: list[str] = []
    cursor = 0
    for start, end, command in pieces:
        out.append(text[cursor:start])
        shell = ctx.shell
        if shell is None or not ctx.shell_enabled:
            out.append(SHELL_DISABLED)
        else:
            result = await shell(command)
            out.append(result[:SHELL_OUTPUT_LIMIT].rstrip("\n"))
        cursor = end
    out.append(text[cursor:])
    return "".join(out)


async def render_body(skill: Skill, args: str, ctx: RenderContext) -> str:
    text = substitute_arguments(skill.body, args, names=skill.arguments)
    text = substitute_variables(text, skill_variables(skill, ctx))
    return await run_shell_blocks(text, ctx)


def render_allowed_tools(skill: Skill, ctx: RenderContext) -> tuple[str, ...]:
    """`${CLAUDE_SKILL_DIR}` and friends are substituted inside `allowed-tools` Bash rules too."""
    values = skill_variables(skill, ctx)
    return tuple(substitute_variables(rule, values) for rule in skill.allowed_tools)
