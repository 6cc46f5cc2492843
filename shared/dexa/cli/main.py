"""The `dexa` command line (typer + rich)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.core

from dexa.core.errors import DexaError
from dexa.core.session import SessionConfig

app = typer.Typer(
    name="dexa",
    help="Dexa: a durable, hosted Claude agent runtime.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


class _Stderr:
    """rich's stderr Console, built on first use: a `dexa run -p` that prints no error never imports rich."""

    _console: Any = None

    def print(self, *objects: Any, **kwargs: Any) -> None:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=True, soft_wrap=True)  # no mid-word wrapping when stderr is a pipe
        self._console.print(*objects, **kwargs)


err = _Stderr()


def _flag_type_rich(self: typer.core.TyperOption, ctx: object) -> str | None:
    """Typer 0.29's rich help prints a value type for on/off flags too (`--help <bool>`), which take no value;
    its plain help skips them. Match the plain help."""
    if self.is_flag or self.count:
        return None
    return _TYPE_RICH(self, ctx)  # pyright: ignore[reportArgumentType]


_TYPE_RICH = typer.core.TyperOption.display_type_rich
typer.core.TyperOption.display_type_rich = _flag_type_rich  # type: ignore[method-assign]


def _split_rules(values: list[str] | None) -> tuple[str, ...]:
    """Claude Code accepts comma- or space-separated rule lists; parentheses may contain spaces."""
    out: list[str] = []
    for value in values or []:
        depth, cur = 0, ""
        for ch in value:
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth = max(0, depth - 1)
            if ch in ", " and depth == 0:
                if cur.strip():
                    out.append(cur.strip())
                cur = ""
            else:
                cur += ch
        if cur.strip():
            out.append(cur.strip())
    return tuple(out)


def _runtime():
    from dexa.settings import get_settings
    from dexa.wiring import build_runtime

    return build_runtime(get_settings())


def _fail(exc: DexaError) -> None:
    err.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(2)


AllowedTools = Annotated[
    list[str] | None,
    typer.Option("--allowedTools", "--allowed-tools", help='Allow rules, e.g. "Bash(npm test:*),Read"'),
]
DisallowedTools = Annotated[
    list[str] | None,
    typer.Option("--disallowedTools", "--disallowed-tools", help="Deny rules; bare names remove tools"),
]
AddDir = Annotated[list[str] | None, typer.Option("--add-dir", help="Additional working directory")]
SettingsFile = Annotated[list[str] | None, typer.Option("--settings", help="Extra settings JSON file")]
PermissionMode = Annotated[
    str | None, typer.Option("--permission-mode", help="default|acceptEdits|plan|bypassPermissions|dontAsk")
]


@app.command()
def run(
    prompt_arg: Annotated[str | None, typer.Argument(metavar="PROMPT", help="The prompt ('-' reads stdin)")] = None,
    print_: Annotated[bool, typer.Option("-p", "--print", help="Print the response and exit (headless)")] = False,
    output_format: Annotated[str, typer.Option("--output-format", help="text|json|stream-json")] = "text",
    input_format: Annotated[str, typer.Option("--input-format", help="text|stream-json")] = "text",
    verbose: Annotated[bool, typer.Option("--verbose")] = False,
    resume: Annotated[str | None, typer.Option("--resume", "-r", help="Session id to resume")] = None,
    continue_: Annotated[bool, typer.Option("--continue", "-c", help="Continue the latest session here")] = False,
    fork_session: Annotated[bool, typer.Option("--fork-session", help="With --resume/--continue: a new id")] = False,
    session_id: Annotated[str | None, typer.Option("--session-id", help="UUID for the new session")] = None,
    model: Annotated[str | None, typer.Option("--model", help="sonnet|opus|haiku|<id>|scripted:FILE")] = None,
    fallback_model: Annotated[
        str | None, typer.Option("--fallback-model", help="Model(s) to try when overloaded")
    ] = None,
    max_turns: Annotated[int | None, typer.Option("--max-turns")] = None,
    max_budget_usd: Annotated[float | None, typer.Option("--max-budget-usd")] = None,
    cwd: Annotated[Path | None, typer.Option("--cwd", help="Working directory (default: current)")] = None,
    system_prompt: Annotated[str | None, typer.Option("--system-prompt")] = None,
    system_prompt_file: Annotated[Path | None, typer.Option("--system-prompt-file")] = None,
    append_system_prompt: Annotated[str, typer.Option("--append-system-prompt")] = "",
    append_system_prompt_file: Annotated[Path | None, typer.Option("--append-system-prompt-file")] = None,
    allowed_tools: AllowedTools = None,
    disallowed_tools: DisallowedTools = None,
    tools: Annotated[str | None, typer.Option("--tools", help='Restrict built-in tools, e.g. "Bash,Read"')] = None,
    permission_mode: PermissionMode = None,
    permission_prompt_tool: Annotated[
        str | None, typer.Option("--permission-prompt-tool", help="'stdio': ask the Agent SDK (can_use_tool)")
    ] = None,
    add_dir: AddDir = None,
    settings: SettingsFile = None,
    setting_sources: Annotated[str | None, typer.Option("--setting-sources", help="user,project,local")] = None,
    mcp_config: Annotated[list[str] | None, typer.Option("--mcp-config", help="File or inline JSON")] = None,
    strict_mcp_config: Annotated[bool, typer.Option("--strict-mcp-config")] = False,
    agents: Annotated[str | None, typer.Option("--agents", help="Subagents as inline JSON")] = None,
    plugin_dir: Annotated[list[str] | None, typer.Option("--plugin-dir", help="Load a plugin from a directory")] = None,
    include_partial_messages: Annotated[bool, typer.Option("--include-partial-messages")] = False,
    replay_user_messages: Annotated[bool, typer.Option("--replay-user-messages")] = False,
    include_hook_events: Annotated[bool, typer.Option("--include-hook-events", hidden=True)] = False,
    network: Annotated[bool, typer.Option("--network", help="Let the sandbox reach the network")] = False,
    unsandboxed: Annotated[
        bool, typer.Option("--dangerously-run-unsandboxed", help="Run Bash without bubblewrap (NOT isolated)")
    ] = False,
    server: Annotated[str | None, typer.Option("--server", help="Run on a Dexa server instead of in-process")] = None,
) -> None:
    """Run a prompt headlessly (Claude Code's `-p` contract)."""
    from dexa.cli.flags import check_run_flags, inline_json_files, read_text_flag, session_extra
    from dexa.cli.run_options import RunOptions

    prompt = prompt_arg
    if prompt == "-" or (
        prompt is None and input_format == "text" and not resume and not continue_ and not sys.stdin.isatty()
    ):
        prompt = sys.stdin.read()
    try:
        check_run_flags(
            output_format=output_format,
            input_format=input_format,
            session_id=session_id,
            permission_prompt_tool=permission_prompt_tool,
            agents=agents,
            plugin_dirs=plugin_dir,
            setting_sources=setting_sources,
        )
        settings_files = inline_json_files(settings or [], kind="settings")
        mcp_files = inline_json_files(mcp_config or [], kind="mcp")
        if system_prompt_file is not None:
            system_prompt = read_text_flag(system_prompt_file, "--system-prompt-file")
        if append_system_prompt_file is not None:
            append_system_prompt = "\n".join(
                p
                for p in (
                    append_system_prompt,
                    read_text_flag(append_system_prompt_file, "--append-system-prompt-file"),
                )
                if p
            )
    except DexaError as exc:
        err.print(f"Error: {exc}", markup=False, highlight=False)
        if output_format in ("json", "stream-json"):
            from dexa.cli.wire import error_result

            typer.echo(json.dumps(error_result(str(exc))))
        raise typer.Exit(1) from None
    config = SessionConfig(
        allowed_tools=_split_rules(allowed_tools),
        disallowed_tools=_split_rules(disallowed_tools),
        tools=None if tools is None else tuple(t for t in _split_rules([tools]) if t != "default"),
        add_dirs=tuple(str(Path(d).resolve()) for d in add_dir or []),
        settings_files=settings_files,
        append_system_prompt=append_system_prompt,
        system_prompt=system_prompt,
        max_turns=max_turns,
        max_budget_usd=max_budget_usd,
        network=network,
        unsandboxed=unsandboxed,
        mcp_config=mcp_files,
        strict_mcp_config=strict_mcp_config,
        extra=session_extra(
            setting_sources=setting_sources, agents=agents, plugin_dirs=plugin_dir, mcp_config=mcp_config
        ),
    )
    if unsandboxed:
        err.print(
            "[bold yellow on red] WARNING [/] Bash runs WITHOUT a sandbox: commands can read and change "
            "anything this user can."
        )
    opts = RunOptions(
        prompt=prompt,
        cwd=str((cwd or Path.cwd()).resolve()),
        output_format=output_format,
        input_format=input_format,
        verbose=verbose,
        resume=resume,
        continue_=continue_,
        fork_session=fork_session,
        model=model,
        fallback_model=fallback_model,
        permission_mode=permission_mode,
        session_id=session_id,
        include_partial_messages=include_partial_messages,
        replay_user_messages=replay_user_messages,
        permission_prompt_tool=permission_prompt_tool,
        config=config,
    )
    if server:
        from dexa.cli.process_exit import finish
        from dexa.cli.remote import run_remote

        code = run_remote(server, opts)
        finish(code)
        raise typer.Exit(code)

    from dexa.cli.headless import run_headless

    async def main() -> int:
        rt = _runtime()
        try:
            return await run_headless(rt, opts, dict(os.environ))
        finally:
            await rt.aclose()

    try:
        code = asyncio.run(main())
    except DexaError as exc:
        _fail(exc)
        return
    except KeyboardInterrupt:  # Ctrl-C before or after the turn (a turn in flight is interrupted by run_headless)
        err.print("Interrupted.", markup=False)
        raise typer.Exit(130) from None
    from dexa.cli.process_exit import finish

    finish(code)  # the result is out and the runtime closed: skip the interpreter's slow teardown
    raise typer.Exit(code)


@app.command()
def sessions(
    limit: Annotated[int, typer.Option("--limit", "-n")] = 20,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List recent sessions."""
    from dexa.wiring import LOCAL_ORG

    async def main() -> list[dict[str, object]]:
        from dexa.checkpoints.repository import session_store_bytes

        rt = _runtime()
        try:
            rows = [s for s in await rt.store.list_sessions(org_id=LOCAL_ORG, limit=limit * 3) if not s.parent_id]
            rows = rows[:limit]
            return [
                {
                    "checkpoint_bytes": await session_store_bytes(rt.store, s.id),
                    "id": s.id,
                    "status": s.status,
                    "model": s.model,
                    "turns": s.turns_completed,
                    "cost_usd": round(s.cost_usd, 4),
                    "cwd": s.cwd,
                    "title": s.title,
                    "updated_at": s.updated_at,
                }
                for s in rows
            ]
        finally:
            await rt.aclose()

    rows = asyncio.run(main())
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table()
    # Whole ids at any terminal width, so they can be copied: the other columns shrink or fold first.
    table.add_column("id", no_wrap=True, min_width=max((len(str(r["id"])) for r in rows), default=2))
    for name in ("status", "turns", "cost"):
        table.add_column(name, no_wrap=True)
    table.add_column("store", overflow="fold")  # checkpoint blobs; folds before an id would be cut
    table.add_column("title", overflow="fold")
    table.add_column("cwd", overflow="fold")
    for r in rows:
        size = f"{int(str(r['checkpoint_bytes'])) / (1024 * 1024):.1f} MiB"
        table.add_row(
            str(r["id"]),
            str(r["status"]),
            str(r["turns"]),
            f"${r['cost_usd']}",
            size,
            str(r["title"])[:40],
            str(r["cwd"]),
        )
    Console().print(table)


@app.command()
def demo(
    keep: Annotated[
        bool, typer.Option("--keep/--no-keep", help="Keep the demo workspace (for resume and rewind)")
    ] = True,
) -> None:
    """Run the offline demo: fix a bug in a small repo until its tests pass, then print the diff."""
    from dexa.cli.demo import run_demo

    try:
        code = run_demo(keep=keep)
    except DexaError as exc:
        _fail(exc)
        return
    raise typer.Exit(code)


# Sub-commands owned by feature modules: (module, name it mounts as, the command words it provides).
_SUBCOMMANDS: tuple[tuple[str, str | None, tuple[str, ...]], ...] = (
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


def _mount_optional(argv: list[str] | None = None) -> None:
    """Mount feature sub-commands. With a command word given, only its module is imported: `dexa run -p`
    must not pay for FastAPI, bashlex or the MCP SDK at start-up. A missing module never breaks the rest."""
    import importlib

    word = next((a for a in (argv or []) if not a.startswith("-")), None)
    known = {w for _, _, words in _SUBCOMMANDS for w in words}
    for module, name, words in _SUBCOMMANDS:
        if word in known and word not in words:
            continue
        builtin = {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}
        if word is not None and word not in known and word in builtin:
            continue
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        if name is None:
            register = getattr(mod, "register", None)
            if register is not None:
                register(app)
            continue
        if isinstance(getattr(mod, "app", None), typer.Typer):
            app.add_typer(mod.app, name=name)
            if name == "plugins":
                app.add_typer(mod.app, name="plugin", hidden=True)  # Claude Code's alias, not listed twice
                if isinstance(getattr(mod, "marketplace_app", None), typer.Typer):
                    app.add_typer(mod.marketplace_app, name="marketplace")
        else:
            mod.register(app)


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
    from dexa.cli.flags import top_level_argv

    argv = expand_variadic(sys.argv[1:])
    if argv and argv[0] in ("-v", "--version"):
        from dexa import __version__

        typer.echo(f"{__version__} (Dexa)")
        return
    _mount_optional(argv)
    commands = {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}
    commands |= {g.name for g in app.registered_groups if g.name}
    app(args=top_level_argv(argv, commands))
