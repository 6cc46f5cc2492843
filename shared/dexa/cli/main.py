"""The `dexa` command: a plain headless run (`dexa -p …`, `dexa run -p …`, the Agent SDKs' `dexa --output-format …`)
is parsed by hand and started without typer; everything else goes to the typer app (cli/app.py).

The typer app's names (`app`, `_mount_optional`) stay importable from here.
"""

from __future__ import annotations

import sys
from typing import Any

# Sub-commands owned by feature modules: (module, name it mounts as, the command words it provides).
SUBCOMMANDS: tuple[tuple[str, str | None, tuple[str, ...]], ...] = (
    ("dexa.cli.permissions_cmd", "permissions", ("permissions",)),
    ("dexa.cli.memory_cmd", "memory", ("memory",)),
    ("dexa.cli.rewind_cmd", "rewind", ("rewind",)),
    ("dexa.cli.checkpoints_cmd", "checkpoints", ("checkpoints",)),
    ("dexa.cli.integrations_cmd", "integrations", ("integrations",)),
    ("dexa.cli.outputs_cmd", "outputs", ("outputs",)),
    ("dexa.cli.server_cmd", None, ("serve", "attach", "continue", "chat")),
    ("dexa.cli.plugins_cmd", "plugins", ("plugins", "plugin", "marketplace")),
    ("dexa.cli.schedule_cmd", "schedules", ("schedules",)),
    ("dexa.cli.business_demo", None, ("business-demo",)),
    ("dexa.cli.trust_cmd", None, ("trust",)),
    ("dexa.cli.cloud_cmd", "cloud", ("cloud",)),
    ("dexa.cli.mcp_cmd", "mcp", ("mcp",)),
    ("dexa.cli.doctor", None, ("doctor",)),
    ("dexa.cli.acp_cmd", None, ("acp",)),
    ("dexa.cli.transfer_cmd", None, ("pull", "push")),
    ("dexa.cli.trace_cmd", None, ("trace",)),
)


BUILTIN_COMMANDS = ("run", "sessions", "demo")


# Claude Code's list flags are variadic (`--allowedTools "Bash(git *)" Read`); click options take one value, so the
# extra values are rewritten as repeated flags before parsing.
VARIADIC_FLAGS = frozenset(
    {
        "--allowedTools",
        "--allowed-tools",
        "--disallowedTools",
        "--disallowed-tools",
        "--add-dir",
        "--mcp-config",
        "--settings",
        "--plugin-dir",
    }
)


def expand_variadic(argv: list[str]) -> list[str]:
    out: list[str] = []
    flag: str | None = None
    for arg in argv:
        if arg.startswith("-"):
            flag = arg if arg in VARIADIC_FLAGS else None
            out.append(arg)
            continue
        if flag is not None and out[-1] != flag:
            out.append(flag)
        out.append(arg)
    return out


def main() -> None:
    argv = expand_variadic(sys.argv[1:])
    if argv and argv[0] in ("-v", "--version"):
        from dexa import __version__

        print(f"{__version__} (Dexa)")
        return
    from dexa.cli import startup_gc
    from dexa.cli.process_exit import is_cli_process

    if is_cli_process():
        from dexa.cli import codecache

        startup_gc.pause()  # until a headless run is about to submit its prompt (cli/startup_gc.py)
        codecache.install()  # before the imports below create their dataclasses
    from dexa.cli.run_argv import parse_run_argv

    values = parse_run_argv(argv)
    if values is not None:
        from dexa.cli.run_cmd import run_command

        sys.exit(run_command(values))
    startup_gc.resume()  # any other command: a server or an interactive session starts as it always did
    from dexa.cli.app import app, mount_optional
    from dexa.cli.flags import top_level_argv

    mount_optional(argv, SUBCOMMANDS)
    commands = {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}
    commands |= {g.name for g in app.registered_groups if g.name}
    app(args=top_level_argv(argv, commands))


def __getattr__(name: str) -> Any:
    """`app` and `_mount_optional` from the typer app module, imported on first use (tests mount commands)."""
    if name in ("app", "_mount_optional"):
        from dexa.cli import app as typer_app

        if name == "app":
            return typer_app.app
        return lambda argv=None: typer_app.mount_optional(argv, SUBCOMMANDS)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
