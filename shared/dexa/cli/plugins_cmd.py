"""`dexa plugins`: marketplaces (add/list/remove) and plugins (install/uninstall/enable/disable/list)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from dexa.core.errors import DexaError
from dexa.plugins import LoadedPlugin, MarketplacePolicy, PluginStore, enabled_plugins
from dexa.plugins.state import SCOPES, Scope

app = typer.Typer(help="Install and manage plugins and plugin marketplaces.", no_args_is_help=True)
marketplace_app = typer.Typer(help="Add, list and remove plugin marketplaces.", no_args_is_help=True)
app.add_typer(marketplace_app, name="marketplace")
err = Console(stderr=True, soft_wrap=True)  # no mid-word wrapping when stderr is a pipe

ScopeOpt = Annotated[str, typer.Option("--scope", help="user | project | local")]
HomeOpt = Annotated[Path | None, typer.Option("--home", hidden=True)]
CwdOpt = Annotated[Path | None, typer.Option("--cwd", help="Project directory (default: current)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]


def _managed() -> dict[str, Any]:
    from dexa.settings import get_settings

    path = get_settings().managed_settings_path
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, json.JSONDecodeError) as exc:
        # Fail closed: an unreadable org policy must not open every marketplace.
        raise DexaError(f"cannot read managed settings {path}: {exc}", code="config_error") from exc
    return data if isinstance(data, dict) else {}


def _store(home: Path | None, cwd: Path | None) -> PluginStore:
    return PluginStore(
        (home or Path.home()).resolve(),
        cwd=(cwd or Path.cwd()).resolve(),
        policy=MarketplacePolicy.from_settings(_managed()),
    )


def _scope(value: str) -> Scope:
    if value not in SCOPES:
        err.print(f"[red]error:[/] --scope must be one of {', '.join(SCOPES)}")
        raise typer.Exit(2)
    return value  # type: ignore[return-value]


def _fail(exc: DexaError) -> None:
    err.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(1)


@marketplace_app.command("add")
def marketplace_add(source: str, home: HomeOpt = None, cwd: CwdOpt = None) -> None:
    """Add a marketplace: a directory, a marketplace.json, a git URL or path (*.git), or owner/repo."""
    try:
        market = _store(home, cwd).add_marketplace(source)
    except DexaError as exc:
        _fail(exc)
        return
    typer.echo(f"Added marketplace {market.name} ({len(market.plugins)} plugins)")


@marketplace_app.command("list")
def marketplace_list(home: HomeOpt = None, cwd: CwdOpt = None, as_json: JsonOpt = False) -> None:
    """List known marketplaces."""
    known = _store(home, cwd).known()
    if as_json:
        typer.echo(json.dumps(known, indent=2))
        return
    table = Table("name", "source", "location")
    for name, info in known.items():
        src = info.get("source", {})
        table.add_row(name, str(src.get("source")), str(info.get("installLocation")))
    Console().print(table)


@marketplace_app.command("remove")
def marketplace_remove(name: str, home: HomeOpt = None, cwd: CwdOpt = None) -> None:
    """Forget a marketplace (installed plugins stay installed)."""
    try:
        _store(home, cwd).remove_marketplace(name)
    except DexaError as exc:
        _fail(exc)
    typer.echo(f"Removed marketplace {name}")


def _confirmer(yes: bool) -> Callable[[LoadedPlugin], bool]:
    def confirm(plugin: LoadedPlugin) -> bool:
        runs = plugin.runs_code
        manifest = plugin.manifest
        err.print(f"Plugin [bold]{plugin.ref.name}[/] {manifest.version} - {manifest.description}")
        if runs:
            err.print("[yellow]It runs code on your machine:[/] " + ", ".join(runs))
        if yes:
            return True
        if not sys.stdin.isatty():
            err.print("[red]Refusing to install without confirmation; pass --yes to trust this plugin.[/]")
            return False
        return typer.confirm("Install and trust this plugin?", default=False)

    return confirm


@app.command()
def install(
    plugin: Annotated[str, typer.Argument(help="name or name@marketplace")],
    scope: ScopeOpt = "user",
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Trust the plugin without asking")] = False,
    home: HomeOpt = None,
    cwd: CwdOpt = None,
) -> None:
    """Install a plugin from a known marketplace (an explicit trust decision)."""
    try:
        done = _store(home, cwd).install(plugin, scope=_scope(scope), confirm=_confirmer(yes))
    except DexaError as exc:
        _fail(exc)
        return
    state = "enabled" if done.enabled else "installed disabled (defaultEnabled: false)"
    typer.echo(f"Installed {done.id} {done.version} at {done.path} ({state}, scope {done.scope})")


@app.command()
def uninstall(plugin: str, scope: ScopeOpt = "user", home: HomeOpt = None, cwd: CwdOpt = None) -> None:
    """Remove an installed plugin."""
    try:
        pid = _store(home, cwd).uninstall(plugin, scope=_scope(scope))
    except DexaError as exc:
        _fail(exc)
        return
    typer.echo(f"Uninstalled {pid}")


@app.command()
def enable(plugin: str, scope: ScopeOpt = "user", home: HomeOpt = None, cwd: CwdOpt = None) -> None:
    """Enable an installed plugin (writes enabledPlugins in that scope's settings)."""
    try:
        pid = _store(home, cwd).set_enabled(plugin, True, scope=_scope(scope))
    except DexaError as exc:
        _fail(exc)
        return
    typer.echo(f"Enabled {pid}")


@app.command()
def disable(plugin: str, scope: ScopeOpt = "user", home: HomeOpt = None, cwd: CwdOpt = None) -> None:
    """Disable a plugin without uninstalling it."""
    try:
        pid = _store(home, cwd).set_enabled(plugin, False, scope=_scope(scope))
    except DexaError as exc:
        _fail(exc)
        return
    typer.echo(f"Disabled {pid}")


@app.command("list")
def list_plugins(home: HomeOpt = None, cwd: CwdOpt = None, as_json: JsonOpt = False) -> None:
    """List installed plugins and whether each is enabled here."""
    store = _store(home, cwd)
    rows = store.installed(enabled_plugins(home=store.home, cwd=store.cwd, managed=_managed()))
    data = [
        {
            "id": p.id,
            "version": p.version,
            "scope": p.scope,
            "enabled": p.enabled,
            "path": str(p.path),
            "commit": p.commit,
        }
        for p in rows
    ]
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    table = Table("plugin", "version", "scope", "enabled")
    for row in data:
        table.add_row(str(row["id"]), str(row["version"]), str(row["scope"]), "yes" if row["enabled"] else "no")
    Console().print(table)
