"""The `dexa` command line as a typer app: `run`, `sessions`, `demo` and the feature sub-commands.

Imported by dexa.cli.main for anything but a plain headless run, which that module parses by hand (no typer).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.core

from dexa.cli.console import err
from dexa.core.errors import DexaError

app = typer.Typer(
    name="dexa",
    help="Dexa: a durable, hosted Claude agent runtime.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _flag_type_rich(self: typer.core.TyperOption, ctx: object) -> str | None:
    """Typer 0.29's rich help prints a value type for on/off flags too (`--help <bool>`), which take no value;
    its plain help skips them. Match the plain help."""
    if self.is_flag or self.count:
        return None
    return _TYPE_RICH(self, ctx)  # pyright: ignore[reportArgumentType]


_TYPE_RICH = typer.core.TyperOption.display_type_rich
typer.core.TyperOption.display_type_rich = _flag_type_rich  # type: ignore[method-assign]


def _runtime():
    from dexa.settings import get_settings
    from dexa.wiring import build_runtime

    return build_runtime(get_settings())


def _fail(exc: DexaError) -> None:
    err.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(2)


def _build_run() -> None:
    """`dexa run`, its options built from RUN_FLAGS (the table the headless fast path parses by hand)."""
    import inspect

    from dexa.cli.run_options import PROMPT_HELP, RUN_FLAGS, RUN_HELP

    kinds: dict[str, Any] = {
        "bool": bool,
        "str": str | None,
        "int": int | None,
        "float": float | None,
        "path": Path | None,
        "list": list[str] | None,
    }
    prompt = Annotated[str | None, typer.Argument(metavar="PROMPT", help=PROMPT_HELP)]
    params = [inspect.Parameter("prompt_arg", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=prompt)]
    for flag in RUN_FLAGS:
        kind = str if flag.kind == "str" and flag.default is not None else kinds[flag.kind]
        option = typer.Option(*flag.flags, help=flag.help, hidden=flag.hidden)
        params.append(
            inspect.Parameter(
                flag.name, inspect.Parameter.KEYWORD_ONLY, default=flag.default, annotation=Annotated[kind, option]
            )
        )

    def run(**values: Any) -> None:
        from dexa.cli.run_cmd import run_command

        raise typer.Exit(run_command(values))

    run.__doc__ = RUN_HELP
    run.__signature__ = inspect.Signature(params)  # pyright: ignore[reportFunctionMemberAccess]
    run.__annotations__ = {p.name: p.annotation for p in params}
    app.command(name="run")(run)


_build_run()


@app.command()
def sessions(
    limit: Annotated[int, typer.Option("--limit", "-n")] = 20,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List recent sessions."""
    from dexa.wiring import LOCAL_ORG

    async def main() -> list[dict[str, object]]:
        from dexa.checkpoints.repository import sessions_store_bytes

        rt = _runtime()
        try:
            rows = [s for s in await rt.store.list_sessions(org_id=LOCAL_ORG, limit=limit * 3) if not s.parent_id]
            rows = rows[:limit]
            stored = await sessions_store_bytes(rt.store, [s.id for s in rows])
            return [
                {
                    "checkpoint_bytes": stored[s.id],
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


def mount_optional(argv: list[str] | None, subcommands: Sequence[tuple[str, str | None, tuple[str, ...]]]) -> None:
    """Mount feature sub-commands. With a command word given, only its module is imported: `dexa run -p`
    must not pay for FastAPI, bashlex or the MCP SDK at start-up. A missing module never breaks the rest."""
    import importlib

    from dexa.cli.run_argv import command_word

    word = command_word(argv or [])
    known = {w for _, _, words in subcommands for w in words}
    for module, name, words in subcommands:
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
