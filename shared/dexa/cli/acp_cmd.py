"""`dexa acp`: Dexa as an Agent Client Protocol agent on stdio, for Zed, JetBrains IDEs, Neovim and VS Code.

In-process by default (the runtime `dexa run` builds). With `--server URL` it drives sessions of a running
`dexa serve` instead, so a session started on the web opens in the editor with session/load and its id.
"""

from __future__ import annotations

import asyncio
import os
from typing import Annotated

import typer

from dexa.core.errors import DexaError


def acp(
    server: Annotated[
        str | None, typer.Option("--server", help="Attach to sessions on a Dexa server (dexa serve) at this URL")
    ] = None,
    token: Annotated[str | None, typer.Option("--token", help="API key for --server (default: DEXA_TOKEN)")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Model for new local sessions")] = None,
    thinking: Annotated[bool, typer.Option("--thinking", help="Start with extended thinking on")] = False,
) -> None:
    """Speak the Agent Client Protocol on stdin/stdout (run by an editor, not by hand)."""
    from dexa.acp import serve_stdio
    from dexa.acp.backend import Backend, LocalBackend

    async def main() -> None:
        backend: Backend
        if server:
            from dexa.acp.attach import RemoteBackend
            from dexa.client.connect import resolve_token

            backend = RemoteBackend(server, token or resolve_token())
        else:
            from dexa.settings import get_settings
            from dexa.wiring import build_runtime

            backend = LocalBackend(build_runtime(get_settings()), model=model, env=dict(os.environ))
        await serve_stdio(backend, thinking=thinking)

    try:
        asyncio.run(main())
    except DexaError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def register(app: typer.Typer) -> None:
    app.command(name="acp")(acp)
