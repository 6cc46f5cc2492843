"""`dexa memory`: which CLAUDE.md / rules / imported files a session started here would load, in order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from dexa.memory import MemoryConfig, MemoryIndex
from dexa.memory.loader import MANAGED_DIR

app = typer.Typer(
    help="Inspect memory files (CLAUDE.md, CLAUDE.local.md, .claude/rules, @imports).", no_args_is_help=True
)


@app.callback()
def memory() -> None:
    """Inspect memory files."""


@app.command()
def show(
    cwd: Annotated[Path | None, typer.Option("--cwd", help="Working directory (default: current)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    home: Annotated[Path | None, typer.Option("--home", hidden=True, help="Home directory (default: ~)")] = None,
    managed_dir: Annotated[Path, typer.Option("--managed-dir", hidden=True)] = Path(MANAGED_DIR),
) -> None:
    """List the memory files loaded at session start, in load order, with scope and import origin."""
    directory = (cwd or Path.cwd()).resolve()
    if not directory.is_dir():
        Console(stderr=True).print(f"[red]error:[/] not a directory: {directory}")
        raise typer.Exit(2)
    index = MemoryIndex.load(
        MemoryConfig(cwd=str(directory), home=str((home or Path.home()).resolve()), managed_dir=str(managed_dir))
    )
    files = [f.to_dict() for f in index.files]
    pending = [{"path": r.path, "scope": r.scope, "paths": list(r.globs)} for r in index.startup.pending_rules]
    problems = [p.to_event() for p in index.startup.problems]
    if as_json:
        typer.echo(
            json.dumps(
                {"cwd": str(directory), "files": files, "conditional_rules": pending, "problems": problems}, indent=2
            )
        )
        return
    table = Table("#", "scope", "kind", "path", "imported from")
    for i, f in enumerate(files, 1):
        table.add_row(str(i), str(f["scope"]), str(f["kind"]), str(f["path"]), str(f["imported_from"] or ""))
    console = Console()
    console.print(table)
    for rule in pending:
        console.print(f"[dim]conditional rule {rule['path']} loads when a file matches {', '.join(rule['paths'])}[/]")
    for p in problems:
        console.print(f"[yellow]warning:[/] {p['file']}: {p['key']}: {p['message']}")
