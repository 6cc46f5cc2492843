"""`dexa business-demo`: "make sure every customer meeting this week has a follow-up scheduled", through the real loop.

The ordinary runtime runs it: the turn engine, the permission engine, lazily loaded managed MCP servers over the demo
company, and the staging gate. With ANTHROPIC_API_KEY set, Sonnet is the agent. Without one, a scripted agent
(dexa.demo.follow_ups) answers through the real `anthropic` SDK from the loopback Messages API, deciding each step
from the tool results in the request, as a model would. The company lives in DEXA_HOME, so the printed next steps
(`dexa outputs ...`, the API routes, `dexa serve`'s Review page) act on the same outputs and the same data.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from dexa.core.session import SessionConfig

PROMPT = "Make sure every customer meeting this week has a follow-up scheduled."
SOURCES = ("calendar", "crm", "email", "meetings")
TITLE = "business demo: follow-ups for this week's customer meetings"
RESEEDED = "the demo company was re-seeded by a later business-demo run"


@contextmanager
def _model_endpoint(console: Console) -> Iterator[None]:
    """Sonnet with a key; otherwise the scripted agent behind the loopback Messages API, for the SDK to call."""
    if os.environ.get("ANTHROPIC_API_KEY"):
        console.print("[bold]ANTHROPIC_API_KEY is set: Sonnet runs the demo.[/]")
        yield
        return
    from dexa.demo.follow_ups import FollowUpAgent
    from dexa.testing.messages_api import serve
    from dexa.testing.script import Script

    server = serve(Script(turns=(), responder=FollowUpAgent(), source="dexa.demo.follow_ups"))
    saved = {k: os.environ.get(k) for k in ("ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY")}
    # The SDK reads these from the environment, exactly as it would for a real endpoint.
    os.environ["ANTHROPIC_BASE_URL"] = server.url
    os.environ["ANTHROPIC_API_KEY"] = "loopback-demo-key"
    console.print(
        f"[dim]No ANTHROPIC_API_KEY: a scripted agent, deciding each step from the tool results it receives, drives "
        f"the real Anthropic SDK through the loopback Messages API at {server.url}.[/]"
    )
    try:
        yield
    finally:
        server.close()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


async def _company(rt: Any, *, reset: bool, user: str) -> Any:
    """The org's demo company (connected if it is not yet), re-seeded for this week when asked or out of date."""
    from dexa.integrations.providers.demo import monday_of
    from dexa.wiring import LOCAL_ORG

    integrations = rt.integrations
    if not any(r["provider"] == "demo" for r in await integrations.registry.list(LOCAL_ORG)):
        await integrations.registry.add(LOCAL_ORG, {"provider": "demo"})
    await integrations.managed.providers(LOCAL_ORG)
    company = integrations.managed.demo
    this_week = monday_of(time_today())
    if reset or company.week_start != this_week:
        company.reset(week_start=this_week, user=user)
        await _retire_earlier_runs(rt)
    return company


async def _retire_earlier_runs(rt: Any) -> None:
    """Reject what earlier demo runs left pending: it refers to drafts and a week the re-seed has replaced."""
    from dexa.wiring import LOCAL_ORG

    demo_sessions = {s.id for s in await rt.store.list_sessions(org_id=LOCAL_ORG, limit=1000) if s.title == TITLE}
    queue = rt.integrations.queue
    for output in await queue.list(LOCAL_ORG, status="pending"):
        if output["session_id"] in demo_sessions:
            await queue.reject(LOCAL_ORG, output["id"], by="dexa business-demo", reason=RESEEDED)


def time_today() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC).date()


async def _run(console: Console, *, reset: bool, user: str) -> tuple[int, dict[str, Any]]:
    from dexa.cli.render import EventRenderer
    from dexa.core.events import EventType
    from dexa.settings import get_settings
    from dexa.wiring import LOCAL_ORG, build_runtime

    # A handler first, so the MCP SDK's own INFO-level set-up is a no-op: per-request lines would bury the transcript.
    logging.basicConfig(level=logging.WARNING)
    settings = get_settings()
    rt = build_runtime(settings)
    try:
        company = await _company(rt, reset=reset, user=user)
        sent_before, invites_before = len(company.outbox()), len(company.invitations())
        cwd = settings.workspaces_dir / "business-demo"
        cwd.mkdir(parents=True, exist_ok=True)
        config = SessionConfig(allowed_tools=tuple(f"mcp__{s}" for s in SOURCES), headless=True)
        session = await rt.create_session(cwd=str(cwd), model="sonnet", config=config, title=TITLE)
        console.print(f"[bold]Task:[/] {PROMPT}  [dim](as {company.user['name']}, {company.user['email']})[/]\n")
        await rt.engine.submit(session.id, PROMPT)
        task = asyncio.create_task(rt.driver.run(session.id, wait_for_approvals=False))
        renderer, cursor = EventRenderer(console), 0
        while True:
            events = await rt.store.read_events(session.id, after=cursor)
            for ev in events:
                cursor = ev.seq
                if ev.type == EventType.TOOL_COMPLETED:
                    console.print(f"  [green]⎿[/] {escape(_gist(str(ev.data.get('content', ''))))}", soft_wrap=True)
                elif ev.type != EventType.CHECKPOINT_CREATED:
                    renderer.render(ev)
            if task.done() and not events:
                break
            if not events:
                await rt.engine.notifier.wait(f"events:{session.id}", 0.2)
        final = await task
        console.print()
        pending = await rt.integrations.queue.list(LOCAL_ORG, session_id=session.id, status="pending")
        _print_queue(console, pending)
        new_sent = len(company.outbox()) - sent_before
        new_invites = len(company.invitations()) - invites_before
        console.print(f"Sent during the run: {new_sent} email(s), {new_invites} calendar invitation(s).")
        facts = {"session": final, "pending": pending, "company": company, "model_calls": await _model_calls(rt, final)}
        if new_sent or new_invites or not pending or final.status != "idle":
            console.print("[bold red]demo failed: something was sent before approval, or nothing was staged[/]")
            return 1, facts
        console.print("[green]Nothing left the building: every email, invitation and CRM task waits for review.[/]")
        return 0, facts
    finally:
        await rt.aclose()


async def _model_calls(rt: Any, session: Any) -> int:
    messages = await rt.store.list_messages(session.id)
    return sum(1 for m in messages if m.role == "assistant")


def _gist(content: str) -> str:
    """One line for a tool result: what came back, not the whole JSON."""
    if content.startswith("Staged as "):
        return content.split(". ", 1)[0] + "; nothing sent."
    try:
        data = json.loads(content)
    except ValueError:
        first = (content.splitlines() or [""])[0]
        return first if len(first) <= 110 else first[:109] + "…"
    if isinstance(data, dict) and data.get("id"):
        return f"{data['id']} {data.get('subject') or data.get('summary') or ''}".strip()
    if isinstance(data, dict):
        lists = {k: v for k, v in data.items() if isinstance(v, list)}
        if lists:
            return ", ".join(f"{len(v)} {k}" for k, v in lists.items())
        return ", ".join(f"{k}: {v}" for k, v in list(data.items())[:3])
    return str(data)[:110]


def _print_queue(console: Console, pending: list[Mapping[str, Any]]) -> None:
    console.print(f"[bold]Review queue[/] ({len(pending)} staged):")
    for o in pending:
        to = f" → {', '.join(o['recipients'])}" if o["recipients"] else ""
        console.print(f"  [cyan]{o['id']}[/] [bold]{o['kind']}[/] {escape(o['target'] + to)}", soft_wrap=True)
        lines = o["preview"].splitlines()
        for line in lines[1:] if o["kind"] == "email" else lines[:2]:
            console.print(f"      {escape(line)}", soft_wrap=True)
    console.print()


def _next_steps(console: Console, session_id: str, first: str, home: Path) -> None:
    route = f"/sessions/{session_id}/pending-outputs/{first}/approve"
    console.print(
        "[bold]Next:[/]\n"
        "  dexa outputs list                  the review queue\n"
        f"  dexa outputs show {first}      one output in full\n"
        f"  dexa outputs approve {first}   executes it once (reject with `dexa outputs reject ID --reason ...`)\n"
        "  dexa serve                         then the Review page: http://127.0.0.1:4096/ui/review\n"
        "  or, with dexa serve running, the API:\n"
        f'  curl -X POST -H "Authorization: Bearer $(cat {home}/token)" -H "content-type: application/json" '
        f"-d '{{}}' http://127.0.0.1:4096{route}",
        soft_wrap=True,
    )


def run_business_demo(
    *, approve_one: bool = False, reset: bool = True, user: str = "maya", console: Console | None = None
) -> int:
    """Run the follow-ups demo in DEXA_HOME; returns a process exit code (0 = staged, nothing sent).

    `reset` re-seeds the company first (a demo starts from the same week every time), with `user`'s mailbox and
    calendar; the company is kept otherwise.
    """
    console = console or Console(highlight=False)
    started = time.time()
    live = bool(os.environ.get("ANTHROPIC_API_KEY"))
    with _model_endpoint(console):
        code, facts = asyncio.run(_run(console, reset=reset, user=user))
    session = facts["session"]
    cost = f"cost ${session.cost_usd:.4f}" if live else "no cost (scripted model)"
    console.print(
        f"[dim]session {session.id} · turns {session.turns_completed} · model calls "
        f"{facts['model_calls']} · {cost} · {time.time() - started:.1f}s[/]"
    )
    if code != 0 or not facts["pending"]:
        return code
    email = next((o for o in facts["pending"] if o["kind"] == "email"), facts["pending"][0])
    if not approve_one:
        from dexa.settings import get_settings

        _next_steps(console, session.id, email["id"], get_settings().home)
        return 0
    from dexa.cli.outputs_cmd import approve

    console.print(f"\n[bold]Approving {email['id']}[/] (as `dexa outputs approve {email['id']}` would):")
    approve([email["id"]], arguments=None, as_json=False, server=None)
    return 0


def register(app: typer.Typer) -> None:
    """Mount `dexa business-demo` on the main CLI."""

    @app.command("business-demo")
    def business_demo(
        approve: bool = typer.Option(False, "--approve", help="Then approve one staged email and show it sent"),
        keep: bool = typer.Option(False, "--keep-company", help="Keep the demo company's data (default: re-seed)"),
        user: str = typer.Option("maya", "--as", help="Whose mailbox and calendar: maya, leo, priya or sam"),
    ) -> None:
        """Follow-ups for this week's customer meetings, through the real loop: drafted, staged, nothing sent."""
        from dexa.integrations.providers.demo_seed import PEOPLE

        if user not in PEOPLE:
            raise typer.BadParameter(f"--as must be one of {', '.join(PEOPLE)}, not {user!r}")
        raise typer.Exit(run_business_demo(approve_one=approve, reset=not keep, user=user))
