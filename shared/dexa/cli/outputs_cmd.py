"""`dexa outputs list|show|approve|reject`: the review queue of staged side effects (emails, invites, CRM changes...).

With `--server URL` (or DEXA_SERVER) it talks to that server's API, as `dexa attach` does; otherwise it works on the
local home (DEXA_HOME) through the same port the API uses, so an approval executes the pinned call exactly once
either way, and a `dexa serve` on the same home shows the result on its Review page.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Protocol, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dexa.api.schemas.approvals import OutputPublic
from dexa.core.errors import DexaError, NotFoundError, ToolInputError

app = typer.Typer(
    name="outputs",
    help="Review staged outputs: list, show, approve (executes once) or reject.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")
STATUSES = ("pending", "approved", "rejected", "executed", "failed")

Server = Annotated[
    str | None,
    typer.Option("--server", help="A Dexa server's URL (default: $DEXA_SERVER; without either, the local home)"),
]
AsJson = Annotated[bool, typer.Option("--json", help="Machine-readable output")]


class Queue(Protocol):
    """The review queue as the CLI needs it; local and remote behave alike."""

    async def list(self, status: str | None) -> list[OutputPublic]: ...

    async def approve(self, output: OutputPublic, arguments: dict[str, Any] | None) -> OutputPublic: ...

    async def reject(self, output: OutputPublic, reason: str) -> OutputPublic: ...


class LocalQueue:
    """The local home's queue, through the API's own OutputsPort (so the same rules apply)."""

    def __init__(self, runtime: Any) -> None:
        from dexa.server_app import OutputsPort
        from dexa.wiring import LOCAL_ORG, LOCAL_USER

        self.port = OutputsPort(runtime)
        self.org, self.user = LOCAL_ORG, LOCAL_USER

    async def list(self, status: str | None) -> list[OutputPublic]:
        rows = await self.port.list_org(self.org)
        return [OutputPublic.of(o) for o in rows if status is None or o.status == status]

    async def approve(self, output: OutputPublic, arguments: dict[str, Any] | None) -> OutputPublic:
        done = await self.port.approve(self.org, output.session_id, output.id, by=self.user, arguments=arguments)
        return OutputPublic.of(done)

    async def reject(self, output: OutputPublic, reason: str) -> OutputPublic:
        done = await self.port.reject(self.org, output.session_id, output.id, by=self.user, reason=reason)
        return OutputPublic.of(done)


class RemoteQueue:
    """A server's queue over its HTTP API (the routes the web UI's Review page uses)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def list(self, status: str | None) -> list[OutputPublic]:
        return list((await self.client.list_org_outputs(status=status, limit=1000)).data)

    async def approve(self, output: OutputPublic, arguments: dict[str, Any] | None) -> OutputPublic:
        return await self.client.approve_output(output.session_id, output.id, arguments=arguments)

    async def reject(self, output: OutputPublic, reason: str) -> OutputPublic:
        return await self.client.reject_output(output.session_id, output.id, reason=reason)


def _with_queue(server: str | None, fn: Callable[[Queue], Awaitable[T]]) -> T:
    url = server or os.environ.get("DEXA_SERVER")

    async def main() -> T:
        if url:
            from dexa.client.connect import connect

            client = connect(url)
            try:
                return await fn(RemoteQueue(client))
            finally:
                await client.aclose()
        from dexa.settings import get_settings
        from dexa.wiring import build_runtime

        runtime = build_runtime(get_settings())
        try:
            return await fn(LocalQueue(runtime))
        finally:
            await runtime.aclose()

    try:
        return asyncio.run(main())
    except DexaError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from None


async def find(queue: Queue, output_id: str) -> OutputPublic:
    for o in await queue.list(None):
        if o.id == output_id:
            return o
    raise NotFoundError(f"no output {output_id}; `dexa outputs list --status all` shows them all")


def _recipients(o: OutputPublic) -> str:
    return ", ".join(str(r) for r in o.context.get("recipients") or [])


def _print_one(o: OutputPublic) -> None:
    out.print(f"[bold cyan]{o.id}[/]  {o.kind}  [bold]{o.status}[/]  session {o.session_id}")
    out.print(f"[dim]{escape(o.integration)} · {escape(o.tool)}[/]")
    if _recipients(o):
        out.print(f"to: {escape(_recipients(o))}")
    if o.summary:
        out.print(escape(o.summary))
    out.print("[dim]arguments:[/] " + escape(json.dumps(o.arguments, indent=2, ensure_ascii=False)))
    if o.decided_by:
        out.print(f"decided by {o.decided_by}" + (" (edited)" if o.edited else ""))
    if o.error:
        out.print(f"[red]{escape(o.error)}[/]")
    if o.result is not None:
        content = o.result.get("content") if isinstance(o.result, dict) else o.result
        out.print("[dim]result:[/] " + escape(str(content)[:2000]))


def _dump(rows: list[OutputPublic]) -> None:
    typer.echo(json.dumps([r.model_dump() for r in rows], indent=2, ensure_ascii=False))


@app.command("list")
def list_(
    status: Annotated[str, typer.Option("--status", help=f"{'|'.join(STATUSES)}|all")] = "pending",
    session: Annotated[str | None, typer.Option("--session", help="Only this session's outputs")] = None,
    as_json: AsJson = False,
    server: Server = None,
) -> None:
    """The review queue, oldest first (pending ones unless --status says otherwise)."""
    if status != "all" and status not in STATUSES:
        err.print(f"[bold red]error:[/] --status must be one of {', '.join(STATUSES)} or all, not {status!r}")
        raise typer.Exit(2)
    rows = _with_queue(server, lambda q: q.list(None if status == "all" else status))
    rows = [r for r in rows if session is None or r.session_id == session]
    if as_json:
        _dump(rows)
        return
    if not rows:
        out.print(f"No {'' if status == 'all' else status + ' '}outputs.")
        return
    table = Table("id", "kind", "status", "to / target", "what")
    table.columns[0].no_wrap = True
    for r in rows:
        table.add_row(r.id, r.kind, r.status, _recipients(r) or str(r.context.get("target", "")), _gist(r))
    out.print(table)
    out.print("[dim]`dexa outputs show ID` for one in full; `approve` / `reject` to decide.[/]")


def _gist(o: OutputPublic) -> str:
    """One line: an email's subject, else the preview's first line."""
    lines = o.summary.splitlines()
    subject = next((line[9:] for line in lines if line.startswith("Subject: ")), None)
    return subject or (lines[0] if lines else o.tool)


@app.command("show")
def show(output_id: str, as_json: AsJson = False, server: Server = None) -> None:
    """One output in full: what would run, with which arguments, and what happened."""
    o = _with_queue(server, lambda q: find(q, output_id))
    if as_json:
        _dump([o])
        return
    _print_one(o)


def _arguments(raw: str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ToolInputError(f"--arguments is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ToolInputError("--arguments must be a JSON object of the tool's arguments")
    return dict(value)  # pyright: ignore[reportUnknownArgumentType]


@app.command("approve")
def approve(
    output_ids: Annotated[list[str], typer.Argument(help="One or more output ids")],
    arguments: Annotated[
        str | None, typer.Option("--arguments", help="Edited tool arguments as a JSON object (one output only)")
    ] = None,
    as_json: AsJson = False,
    server: Server = None,
) -> None:
    """Approve: the control plane executes each pinned call exactly once and records the result."""

    async def run(q: Queue) -> list[OutputPublic]:
        edited = _arguments(arguments)
        if edited is not None and len(output_ids) != 1:
            raise ToolInputError("--arguments edits one output; approve the others separately")
        return [await q.approve(await find(q, i), edited) for i in output_ids]

    done = _with_queue(server, run)
    if as_json:
        _dump(done)
    for o in [] if as_json else done:
        detail = o.error or (str((o.result or {}).get("content", ""))[:160] if o.result else "")
        out.print(f"[bold]{o.id}[/] {o.kind}: [bold]{o.status}[/] {escape(detail)}")
    if any(o.status == "failed" for o in done):
        raise typer.Exit(1)


@app.command("reject")
def reject(
    output_ids: Annotated[list[str], typer.Argument(help="One or more output ids")],
    reason: Annotated[str, typer.Option("--reason", help="Why (the agent is told)")] = "",
    as_json: AsJson = False,
    server: Server = None,
) -> None:
    """Reject: nothing runs; the decision is recorded and the agent is told."""

    async def run(q: Queue) -> list[OutputPublic]:
        return [await q.reject(await find(q, i), reason) for i in output_ids]

    done = _with_queue(server, run)
    if as_json:
        _dump(done)
        return
    for o in done:
        out.print(f"[bold]{o.id}[/] {o.kind}: [bold]{o.status}[/]")
