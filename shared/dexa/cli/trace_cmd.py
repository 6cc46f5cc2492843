"""`dexa trace SESSION`: a session's span tree with timings, tokens and cost, rebuilt from its event log.

It works on any past session in this machine's store, or on a server's (`--server`, reading the session's events
through the API), whether or not OpenTelemetry export was on when it ran (dexa.runtime.trace_tree says how, and
what differs from the live spans).
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer

from dexa.core.errors import DexaError, NotFoundError
from dexa.core.events import Event


async def _events(session: str, *, turn: int | None) -> tuple[str, list[Event]]:
    from dexa.settings import get_settings
    from dexa.wiring import LOCAL_ORG, build_runtime

    runtime = build_runtime(get_settings())
    try:
        store = runtime.store
        try:
            found = await store.get_session(session)
        except NotFoundError:
            matches = [s for s in await store.list_sessions(org_id=LOCAL_ORG, limit=1000) if s.id.startswith(session)]
            if len(matches) != 1:
                what = "no session" if not matches else f"{len(matches)} sessions"
                raise NotFoundError(f"{what} in this store match {session!r} (dexa sessions lists them)") from None
            found = matches[0]
        events: list[Event] = []
        while batch := await store.read_events(found.id, after=events[-1].seq if events else 0, limit=1000):
            events.extend(batch)
    finally:
        await runtime.aclose()
    if turn is not None:
        events = _one_turn(events, turn)
    return found.id, events


async def _remote_events(server: str, session: str, token: str | None) -> tuple[str, list[Event]]:
    from dexa.client.connect import connect

    client = connect(server, token)
    try:
        events = [
            Event(session_id=e.session_id, seq=e.seq, type=e.type, data=e.data, ts=e.ts)
            async for e in client.events(session, follow=False)
        ]
    finally:
        await client.aclose()
    return session, events


def _one_turn(events: list[Event], turn: int) -> list[Event]:
    """The events from turn N's start to the next turn's start."""
    starts = [i for i, e in enumerate(events) if e.type == "turn.started"]
    for n, i in enumerate(starts):
        if events[i].data.get("turn") == turn:
            end = starts[n + 1] if n + 1 < len(starts) else len(events)
            return events[i:end]
    raise NotFoundError(f"the session has no turn {turn}")


def trace(
    session: Annotated[str, typer.Argument(help="Session id (or a unique prefix of one)")],
    turn: Annotated[int | None, typer.Option("--turn", min=1, help="Only this turn")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The tree as JSON (spans with attributes)")] = False,
    server: Annotated[str | None, typer.Option("--server", help="A Dexa server's session (key: DEXA_TOKEN)")] = None,
    token: Annotated[str | None, typer.Option("--token", help="API key for --server")] = None,
) -> None:
    """Print a session's trace: turns, model calls (tokens, cost, retries), permission decisions, hooks, approval
    waits, tool calls (exit code, sandbox time) and executed outputs, with offsets and durations."""
    from dexa.runtime.trace_tree import build, render

    try:
        if server:
            session_id, events = asyncio.run(_remote_events(server, session, token))
            events = _one_turn(events, turn) if turn is not None else events
        else:
            session_id, events = asyncio.run(_events(session, turn=turn))
    except DexaError as exc:
        typer.echo(f"dexa trace: {exc}", err=True)
        raise typer.Exit(1) from None
    roots = build(events)
    if as_json:
        typer.echo(json.dumps({"session_id": session_id, "spans": [r.to_dict() for r in roots]}, indent=2))
        return
    if not roots:
        typer.echo(f"session {session_id} has no turns yet")
        return
    typer.echo(f"session {session_id}")
    typer.echo(render(roots))


def register(app: typer.Typer) -> None:
    app.command("trace")(trace)
