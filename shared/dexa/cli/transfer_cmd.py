"""`dexa pull` and `dexa push`: continue a server's session on this machine, and send one back to the web.

dexa pull SESSION --server URL [--token T] [--dir PATH]
    GET /sessions/SESSION/export (an export token from the web UI, or an API key), then the session is created in
    this machine's Dexa home under the same id and its workspace materialized at PATH (default ./SESSION):
    `dexa run --resume SESSION` continues it here.
dexa push SESSION --server URL [--token T]
    the local session (conversation, checkpoints, permission state, workspace) to POST /sessions/import; the
    server creates it in the key's org under a new id, to continue on the web.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from dexa.core.errors import ConfigError, DexaError, NotFoundError

err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

Server = Annotated[
    str | None, typer.Option("--server", help="Dexa server URL (default: $DEXA_SERVER or http://127.0.0.1:4096)")
]
Token = Annotated[str | None, typer.Option("--token", help="Export token (pull) or API key (default: $DEXA_TOKEN)")]


def _fail(exc: DexaError) -> None:
    err.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
    raise typer.Exit(2)


def pull(
    session_id: Annotated[str, typer.Argument(metavar="SESSION", help="The session id on the server")],
    server: Server = None,
    token: Token = None,
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Where the workspace goes (default: ./SESSION); must not exist")
    ] = None,
) -> None:
    """Bring a server's session here: conversation, checkpoints, permission state and workspace."""
    target = (directory or Path.cwd() / session_id).absolute()
    try:
        summary = asyncio.run(_pull(session_id, server, token, target))
    except DexaError as exc:
        _fail(exc)
        return
    out.print(
        f"Pulled {session_id} into {target} ({summary}).\n"
        f'Continue here: cd {target} && dexa run --resume {session_id} "next prompt"',
        markup=False,
        highlight=False,
    )


async def _pull(session_id: str, server: str | None, token: str | None, target: Path) -> str:
    from dexa.client import default_server, resolve_token
    from dexa.client.api import DexaClient
    from dexa.transfer.bundle import import_session, parse
    from dexa.transfer.workspace import materialize

    async with DexaClient(server or default_server(), token or resolve_token(), timeout=600) as client:
        incoming = parse((await client.export_session_bundle(session_id)).model_dump())
    rt = _runtime()
    try:
        try:
            await rt.store.get_session(session_id)
        except NotFoundError:
            pass
        else:
            raise ConfigError(
                f"session {session_id} is already in this Dexa home ({rt.settings.home}); "
                f"continue it with `dexa run --resume {session_id}`"
            )
        await asyncio.to_thread(materialize, incoming.workspace, target)
        session = await rt.create_session(
            cwd=str(target),
            model=incoming.model or None,
            permission_mode=incoming.permission_mode,
            config=incoming.config,
            title=incoming.title,
            session_id=session_id,
        )
        await import_session(rt.store, rt.blobs, incoming, session)
    finally:
        await rt.aclose()
    ws = incoming.workspace
    shape = (
        f"git branch {ws.branch} + {len(ws.files)} changed, {len(ws.deleted)} deleted"
        if ws.kind == "git"
        else f"{len(ws.files)} files"
    )
    return f"{len(incoming.messages)} messages; workspace: {shape}"


def push(
    session_id: Annotated[str, typer.Argument(metavar="SESSION", help="The local session id")],
    server: Server = None,
    token: Token = None,
) -> None:
    """Send a local session to a server (into your API key's org), to continue it on the web."""
    from dexa.client import default_server

    url = server or default_server()
    try:
        created = asyncio.run(_push(session_id, url, token))
    except DexaError as exc:
        _fail(exc)
        return
    out.print(
        f"Pushed {session_id} to {url} as {created.id} (workspace on the server: {created.cwd}).\n"
        f"Continue there: dexa attach {created.id} --server {url}",
        markup=False,
        highlight=False,
    )


async def _push(session_id: str, url: str, token: str | None) -> Any:
    from dexa.client import resolve_token
    from dexa.client.api import DexaClient
    from dexa.transfer.bundle import export_session
    from dexa.transfer.workspace import pack
    from dexa.wiring import LOCAL_ORG

    rt = _runtime()
    try:
        try:
            session = await rt.store.get_session(session_id, org_id=LOCAL_ORG)
        except NotFoundError:
            raise NotFoundError(f"no local session {session_id}; `dexa sessions` lists them") from None
        workspace = await asyncio.to_thread(pack, session.cwd)
        doc = await export_session(rt.store, rt.blobs, session, workspace)
    finally:
        await rt.aclose()
    async with DexaClient(url, token or resolve_token(), timeout=600) as client:
        return await client.import_session_bundle(doc)


def _runtime() -> Any:
    from dexa.settings import get_settings
    from dexa.wiring import build_runtime

    return build_runtime(get_settings())


def register(app: typer.Typer) -> None:
    app.command(name="pull")(pull)
    app.command(name="push")(push)
