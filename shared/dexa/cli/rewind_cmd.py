"""`dexa rewind SESSION [--to N|CHECKPOINT_ID] [--code|--conversation|--both]` and the REPL's `/rewind`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from dexa.checkpoints import CheckpointService
from dexa.checkpoints.hostfs import HostDirWorkspace
from dexa.core.errors import DexaError
from dexa.core.ports import Workspace

app = typer.Typer(
    help="List a session's checkpoints, or rewind its code and/or conversation to one.",
    invoke_without_command=True,
    context_settings={"allow_interspersed_args": True},
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console()
err = Console(stderr=True, soft_wrap=True)  # no mid-word wrapping when stderr is a pipe

Ask = Callable[[str], Awaitable[str]]


def service_for_runtime(runtime: Any) -> CheckpointService:
    """The runtime's own CheckpointService when wiring provides one, else one over its store and blobs."""
    existing = getattr(runtime, "checkpoints", None)
    if isinstance(existing, CheckpointService):
        return existing
    settings = runtime.settings

    async def workspace_for(session_id: str) -> Workspace:
        session = await runtime.store.get_session(session_id)
        try:
            return (await runtime.envs.env_for(session)).workspace
        except DexaError:
            # Restoring files needs no model or sandbox; do not refuse a rewind because those cannot start.
            return HostDirWorkspace(session.cwd)

    return CheckpointService(
        runtime.store,
        runtime.blobs,
        workspace_for,
        emit=runtime.engine.emit,
        max_file_bytes=getattr(settings, "checkpoint_max_file_bytes", 5 * 1024 * 1024),
        max_workspace_bytes=getattr(settings, "checkpoint_max_workspace_bytes", 500 * 1024 * 1024),
        full_every=getattr(settings, "checkpoint_full_every", 20),
        ttl_days=getattr(settings, "checkpoint_ttl_days", 30.0),
    )


def checkpoint_table(checkpoints: list[dict[str, Any]]) -> Table:
    from datetime import datetime

    table = Table("#", "id", "when", "reason", "files", "changed", "skipped", "position")
    for c in checkpoints:
        when = datetime.fromtimestamp(c["created_at"]).astimezone().strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(
            str(c["seq"]),
            c["id"],
            when,
            c["reason"],
            str(c["files"]),
            str(c["changed"]),
            str(c["skipped_count"]),
            c.get("message_id") or "(start)",
        )
    return table


def print_report(report: dict[str, Any], console: Console, *, session_id: str = "SESSION") -> None:
    status = report.get("status", "ok")
    if status == "conflict":
        console.print("[bold yellow]Files changed outside Dexa[/] since it last saw them; nothing was changed:")
        for path in report["conflicts"]:
            console.print(f"  {path}")
        console.print("Re-run with --on-conflict keep-copy (save them under .dexa/backups/) or overwrite.")
    else:
        console.print(f"Rewound {report['mode']} to {report['checkpoint_id']} ([bold]{status}[/]).")
    for key, label in (("restored", "restored"), ("deleted", "deleted")):
        if report.get(key):
            console.print(f"  {label}: {', '.join(report[key])}")
    for kept in report.get("kept_copies", []):
        console.print(f"  kept a copy of {kept['path']} at {kept['copy']}")
    for item in report.get("skipped", []):
        console.print(f"  left alone: {item['path']} ({item['reason']})")
    for failed in report.get("failed", []):
        console.print(f"  [red]not restored[/]: {failed['path']}: {failed['error']}")
    if "messages_hidden" in report:
        console.print(f"  conversation: {report['messages_hidden']} message(s) hidden (kept in history)")
    if report.get("undo_checkpoint_id"):
        console.print(f"  undo with: dexa rewind {session_id} --to {report['undo_checkpoint_id']} --code")
    effects = report.get("side_effects", [])
    if effects:
        console.print("[bold]Not undone[/] (happened outside the workspace after this checkpoint):")
        for e in effects:
            offer = e.get("offer")
            hint = f" — compensation available: {offer['action']}" if offer else ""
            console.print(f"  {e['kind']}: {e['summary']}{hint}")


def _mode(code: bool, conversation: bool, both: bool) -> str:
    chosen = [name for name, flag in (("code", code), ("conversation", conversation), ("both", both)) if flag]
    if len(chosen) > 1:
        raise typer.BadParameter("choose one of --code, --conversation, --both")
    return chosen[0] if chosen else "both"


@app.callback(invoke_without_command=True)
def rewind(
    session: Annotated[str, typer.Argument(help="Session id")],
    to: Annotated[str | None, typer.Option("--to", help="Checkpoint number N or id (ckpt_0007)")] = None,
    code: Annotated[bool, typer.Option("--code", help="Restore files only")] = False,
    conversation: Annotated[bool, typer.Option("--conversation", help="Rewind the conversation only")] = False,
    both: Annotated[bool, typer.Option("--both", help="Files and conversation (default)")] = False,
    list_: Annotated[bool, typer.Option("--list", help="List checkpoints (the default without --to)")] = False,
    on_conflict: Annotated[str, typer.Option("--on-conflict", help="ask|overwrite|keep-copy")] = "ask",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    mode = _mode(code, conversation, both)

    async def main() -> dict[str, Any] | list[dict[str, Any]]:
        from dexa.settings import get_settings
        from dexa.wiring import build_runtime

        runtime = build_runtime(get_settings())
        try:
            service = service_for_runtime(runtime)
            await runtime.store.get_session(session)
            if list_ or to is None:
                return await service.list_checkpoints(session)
            return await service.rewind(session, checkpoint_id=to, mode=mode, on_conflict=on_conflict)
        finally:
            await runtime.aclose()

    try:
        result = asyncio.run(main())
    except DexaError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None
    if as_json:
        out.print_json(json.dumps(result, default=str))
    elif isinstance(result, list):
        out.print(checkpoint_table(result) if result else "No checkpoints for this session yet.")
    else:
        print_report(result, out, session_id=session)
    if isinstance(result, dict):
        raise typer.Exit({"ok": 0, "conflict": 1, "partial": 3}.get(result.get("status", "ok"), 0))


async def rewind_interactive(
    service: CheckpointService, session_id: str, *, ask: Ask | None = None, console: Console | None = None
) -> dict[str, Any] | None:
    """`/rewind` in the REPL: list checkpoints, pick one and what to restore, resolve conflicts. None = cancelled."""
    console = console or out

    async def default_ask(prompt: str) -> str:
        return await asyncio.to_thread(console.input, prompt)

    ask = ask or default_ask
    checkpoints = await service.list_checkpoints(session_id)
    if not checkpoints:
        console.print("No checkpoints for this session yet.")
        return None
    console.print(checkpoint_table(checkpoints))
    choice = (await ask("Rewind to checkpoint # (Enter to cancel): ")).strip()
    if not choice:
        return None
    action = await ask("Restore [b]oth code and conversation, [c]ode only, c[o]nversation only, or [n]ever mind: ")
    mode = {"b": "both", "c": "code", "o": "conversation"}.get(action.strip().lower()[:1])
    if mode is None:
        return None
    report = await service.rewind(session_id, checkpoint_id=choice, mode=mode, on_conflict="ask")
    if report["status"] == "conflict":
        print_report(report, console, session_id=session_id)
        answer = (await ask("[k]eep a copy and restore, [o]verwrite, or [c]ancel: ")).strip().lower()[:1]
        on_conflict = {"k": "keep_copy", "o": "overwrite"}.get(answer)
        if on_conflict is None:
            return None
        report = await service.rewind(session_id, checkpoint_id=choice, mode=mode, on_conflict=on_conflict)
    print_report(report, console, session_id=session_id)
    return report
