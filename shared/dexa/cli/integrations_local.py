"""The local home the `dexa integrations` commands work on: this machine's org and user, its SQLite store and
file vault, and the consoles they print to. Its own module so the command modules share it without importing
each other."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from dexa.core.errors import DexaError

out = Console()
err = Console(stderr=True, soft_wrap=True)  # no mid-word wrapping when stderr is a pipe
T = TypeVar("T")
LOCAL_ORG = "org_local"
LOCAL_USER = "usr_local"


def redirect_uri() -> str:
    """Where the provider sends the browser back: `dexa serve`'s callback route (DEXA_PUBLIC_URL, else its default
    address), so a connection started here is completed by the server."""
    import os

    from dexa.runtime.control_plane import public_url
    from dexa.wiring import DEFAULT_BASE_URL

    return f"{public_url(os.environ, DEFAULT_BASE_URL)}/oauth/callback"


def run_local(fn: Callable[[Any], Awaitable[T]]) -> T:
    """Run `fn(integrations)` against the local home (SQLite store + encrypted file vault)."""
    from dexa.adapters.sqlite import SqliteStore
    from dexa.integrations.session_tools import build_integrations
    from dexa.integrations.vault import FileVault
    from dexa.settings import DexaSettings

    settings = DexaSettings()
    settings.home.mkdir(parents=True, exist_ok=True)

    async def main() -> T:
        store = SqliteStore(settings.db_path)
        try:
            return await fn(build_integrations(store, FileVault.open(settings.home), redirect_uri=redirect_uri()))
        finally:
            close = getattr(store, "close", None)
            if close is not None:
                close()

    try:
        return asyncio.run(main())
    except DexaError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None
