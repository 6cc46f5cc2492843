"""The `dexa` command line (typer + rich)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from dexa.core.errors import DexaError
from dexa.core.session import SessionConfig

app = typer.Typer(
    name="dexa",
    help="Dexa: a durable, hosted Claude agent runtime.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err = Console(stderr=True)


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
    prompt: Annotated[str | None, typer.Option("-p", "--print", help="Prompt (or '-' to read stdin)")] = None,
    output_format: Annotated[str, typer.Option("--output-format", help="text|json|stream-json")] = "text",
    input_format: Annotated[str, typer.Option("--input-format", help="text|stream-json")] = "text",
    verbose: Annotated[bool, typer.Option("--verbose")] = False,
    resume: Annotated[str | None, typer.Option("--resume", "-r", help="Session id to resume")] = None,
    continue_: Annotated[bool, typer.Option("--continue", "-c", help="Continue the latest session here")] = False,
    session_id: Annotated[str | None, typer.Option("--session-id", help="Id for the new session")] = None,
    model: Annotated[str | None, typer.Option("--model", help="sonnet|opus|haiku|<id>|scripted:FILE")] = None,
    max_turns: Annotated[int | None, typer.Option("--max-turns")] = None,
    max_budget_usd: Annotated[float | None, typer.Option("--max-budget-usd")] = None,
    cwd: Annotated[Path | None, typer.Option("--cwd", help="Working directory (default: current)")] = None,
    system_prompt: Annotated[str | None, typer.Option("--system-prompt")] = None,
    append_system_prompt: Annotated[str, typer.Option("--append-system-prompt")] = "",
    allowed_tools: AllowedTools = None,
    disallowed_tools: DisallowedTools = None,
    tools: Annotated[str | None, typer.Option("--tools", help='Restrict built-in tools, e.g. "Bash,Read"')] = None,
    permission_mode: PermissionMode = None,
    add_dir: AddDir = None,
    settings: SettingsFile = None,
    mcp_config: Annotated[list[str] | None, typer.Option("--mcp-config")] = None,
    strict_mcp_config: Annotated[bool, typer.Option("--strict-mcp-config")] = False,
    network: Annotated[bool, typer.Option("--network", help="Let the sandbox reach the network")] = False,
    unsandboxed: Annotated[
        bool, typer.Option("--dangerously-run-unsandboxed", help="Run Bash without bubblewrap (NOT isolated)")
    ] = False,
    server: Annotated[str | None, typer.Option("--server", help="Run on a Dexa server instead of in-process")] = None,
) -> None:
    """Run a prompt headlessly (Claude Code's `-p` contract)."""
    from dexa.cli.headless import RunOptions, run_headless

    if prompt == "-" or (
        prompt is None and input_format == "text" and not resume and not continue_ and not sys.stdin.isatty()
    ):
        prompt = sys.stdin.read()
    if output_format not in ("text", "json", "stream-json"):
        err.print(f"[red]--output-format must be text, json or stream-json, not {output_format!r}[/]")
        raise typer.Exit(2)
    if input_format == "stream-json" and output_format != "stream-json":
        err.print("[red]--input-format stream-json requires --output-format stream-json[/]")
        raise typer.Exit(2)
    config = SessionConfig(
        allowed_tools=_split_rules(allowed_tools),
        disallowed_tools=_split_rules(disallowed_tools),
        tools=None if tools is None else tuple(t for t in _split_rules([tools]) if t != "default"),
        add_dirs=tuple(str(Path(d).resolve()) for d in add_dir or []),
        settings_files=tuple(str(Path(s).resolve()) for s in settings or []),
        append_system_prompt=append_system_prompt,
        system_prompt=system_prompt,
        max_turns=max_turns,
        max_budget_usd=max_budget_usd,
        network=network,
        unsandboxed=unsandboxed,
        mcp_config=tuple(str(Path(m).resolve()) for m in mcp_config or []),
        strict_mcp_config=strict_mcp_config,
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
        model=model,
        permission_mode=permission_mode,
        session_id=session_id,
        config=config,
    )
    if server:
        from dexa.cli.remote import run_remote

        raise typer.Exit(run_remote(server, opts))

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
    raise typer.Exit(code)


@app.command()
def sessions(
    limit: Annotated[int, typer.Option("--limit", "-n")] = 20,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List recent sessions."""
    from dexa.wiring import LOCAL_ORG

    async def main() -> list[dict[str, object]]:
        rt = _runtime()
        try:
            rows = [s for s in await rt.store.list_sessions(org_id=LOCAL_ORG, limit=limit * 3) if not s.parent_id]
            rows = rows[:limit]
            return [
                {
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
    table = Table("id", "status", "turns", "cost", "title", "cwd")
    for r in rows:
        table.add_row(
            str(r["id"]), str(r["status"]), str(r["turns"]), f"${r['cost_usd']}", str(r["title"])[:40], str(r["cwd"])
        )
    Console().print(table)


@app.command()
def demo(
    keep: Annotated[bool, typer.Option("--keep", help="Keep the demo workspace")] = False,
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
    ("dexa.cli.integrations_cmd", "integrations", ("integrations",)),
    ("dexa.cli.server_cmd", None, ("serve", "attach", "continue", "chat")),
    ("dexa.cli.plugins_cmd", "plugins", ("plugins", "plugin", "marketplace")),
    ("dexa.cli.schedule_cmd", "schedules", ("schedules",)),
    ("dexa.cli.business_demo", None, ("business-demo",)),
    ("dexa.cli.trust_cmd", None, ("trust",)),
    ("dexa.cli.cloud_cmd", "cloud", ("cloud",)),
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
                app.add_typer(mod.app, name="plugin")
                if isinstance(getattr(mod, "marketplace_app", None), typer.Typer):
                    app.add_typer(mod.marketplace_app, name="marketplace")
        else:
            mod.register(app)


# Claude Code's list flags are variadic (`--allowedTools "Bash(git *)" Read`); click options take one value, so the
# extra values are rewritten as repeated flags before parsing.
VARIADIC_FLAGS = frozenset({"--allowedTools", "--allowed-tools", "--disallowedTools", "--disallowed-tools", "--add-dir",
                            "--mcp-config", "--settings"})


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
    _mount_optional(argv)
    app(args=argv)
