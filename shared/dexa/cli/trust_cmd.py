"""`dexa trust`: let a repository's own settings take effect, recorded the way Claude Code records it.

Until a workspace is trusted, its `.claude/settings*.json` and `.mcp.json` only narrow (deny and ask rules); hooks,
allow rules, `env`, MCP servers and plugins are held. Trust lives in `~/.claude.json`
(`projects["<repo root>"].hasTrustDialogAccepted`), so trusting in Claude Code or in Dexa counts for both.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from dexa.config.trust import CONTROL_FILES, is_trusted, set_trust, trust_root

err = Console(stderr=True, soft_wrap=True)  # no mid-word wrapping when stderr is a pipe


def _home() -> str:
    return os.path.expanduser("~")


def has_project_config(cwd: str) -> bool:
    root = trust_root(cwd, _home())
    return any(os.path.exists(os.path.join(base, name)) for base in {cwd, root} for name in CONTROL_FILES)


def prompt_for_trust(cwd: str) -> bool:
    """Claude Code's trust dialog for interactive sessions: asked once per workspace, on a terminal only."""
    home = _home()
    if is_trusted(cwd, home) or not has_project_config(cwd) or not (sys.stdin.isatty() and sys.stderr.isatty()):
        return is_trusted(cwd, home)
    root = trust_root(cwd, home)
    err.print(
        f"[bold]Do you trust the files in {root}?[/]\n"
        "Its settings can run hooks and MCP servers (inside the sandbox), allow tools and set the environment.\n"
        "Until you trust it, only its deny and ask rules apply."
    )
    answer = typer.prompt("Trust this folder? [y/N]", default="n", show_default=False, err=True)
    if answer.strip().lower() in ("y", "yes"):
        set_trust(cwd, home)
        return True
    return False


def trust(
    path: Annotated[Path | None, typer.Argument(help="Workspace to trust (default: the current directory)")] = None,
    revoke: Annotated[bool, typer.Option("--revoke", help="Withdraw trust")] = False,
    status: Annotated[bool, typer.Option("--status", help="Only say whether the workspace is trusted")] = False,
) -> None:
    """Trust a workspace: its hooks, allow rules, env, MCP servers and plugins take effect (Claude Code's trust)."""
    cwd = str((path or Path.cwd()).resolve())
    if not os.path.isdir(cwd):
        err.print(f"[red]error:[/] not a directory: {cwd}")
        raise typer.Exit(2)
    home = _home()
    root = trust_root(cwd, home)
    if status:
        trusted = is_trusted(cwd, home)
        typer.echo(f"{root}: {'trusted' if trusted else 'not trusted'}")
        raise typer.Exit(0 if trusted else 1)
    if os.path.abspath(root) == os.path.abspath(home) and not revoke:
        err.print("[red]error:[/] your home directory cannot be trusted as a workspace; trust a project inside it")
        raise typer.Exit(2)
    set_trust(cwd, home, trusted=not revoke)
    typer.echo(f"{root}: {'no longer trusted' if revoke else 'trusted'}")


def register(app: typer.Typer) -> None:
    app.command(name="trust")(trust)
