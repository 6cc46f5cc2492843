"""The headless fast path's argv parser: `dexa run -p …` / `dexa -p …` read from RUN_FLAGS without typer.

Importing typer and building its command costs ~0.1 s of CPU before a headless run can start. This parser
accepts what click would accept the same way for these options (`--flag value`, `--flag=value`, repeated list
flags, one positional prompt, options before or after it) and gives up, returning None, on anything else:
`--help`, an unknown or combined short flag, `--`, a value that does not convert, a second positional. The
caller then runs the typer command, which prints help or click's own error message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dexa.cli.run_options import RUN_FLAGS, RunFlag

APP_FLAGS = frozenset({"--help", "--install-completion", "--show-completion"})
_BY_FLAG: dict[str, RunFlag] = {name: flag for flag in RUN_FLAGS for name in flag.flags}


def command_word(argv: list[str]) -> str | None:
    """The command an argv names: its first word, `run` when it starts with a run flag (`dexa -p …`), None for an
    app flag (`--help`) or nothing."""
    if not argv or argv[0] in APP_FLAGS:
        return None
    return "run" if argv[0].startswith("-") else argv[0]


def run_args(argv: list[str]) -> list[str] | None:
    """The arguments of a `run` invocation (`dexa run …`, or `dexa -…` which means `dexa run -…`); None for any
    other command, a bare word first (a command or a prompt: typer's routing decides) or an app flag."""
    if not argv:
        return None
    if argv[0] == "run":
        return argv[1:]
    if argv[0].startswith("-") and argv[0] != "-" and argv[0] not in APP_FLAGS:
        return argv
    return None


def parse_run_argv(argv: list[str]) -> dict[str, Any] | None:
    """{parameter name: value} for every RUN_FLAGS entry plus `prompt_arg`, as typer would pass them; None when
    the invocation is not a plain `run` this parser is sure about."""
    args = run_args(argv)
    if args is None:
        return None
    values: dict[str, Any] = {flag.name: flag.default for flag in RUN_FLAGS}
    values["prompt_arg"] = None
    positional = 0
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("-") or arg == "-":
            positional += 1
            if positional > 1:
                return None
            values["prompt_arg"] = arg
            continue
        name, eq, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        flag = _BY_FLAG.get(name)
        if flag is None:
            return None
        if flag.kind == "bool":
            if eq:
                return None
            values[flag.name] = True
            continue
        if not eq:
            if i >= len(args):
                return None
            inline = args[i]
            i += 1
        value = _convert(flag.kind, inline)
        if value is None:
            return None
        if flag.kind == "list":
            values[flag.name] = [*(values[flag.name] or []), value]
        else:
            values[flag.name] = value
    return values


def _convert(kind: str, raw: str) -> Any:
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError:
        return None
    if kind == "path":
        return Path(raw)
    return raw
