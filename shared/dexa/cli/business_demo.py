"""`dexa business-demo` (`dexa demo follow-ups`): the offline business demo.

"Make sure every customer meeting this week has a follow-up scheduled": a scripted model works through the demo
company's calendar, CRM, meeting transcripts and email via the managed MCP servers, exactly as a real model would
(lazy source loading, the real turn engine, the real staging gate). Drafts are written; the emails, invites and CRM
tasks are staged. The run ends with the review queue, and the demo provider's outbox proves nothing was sent.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from dexa.core.messages import ToolUseBlock
from dexa.core.ports import ModelRequest
from dexa.integrations.providers.demo_seed import ORG_DOMAIN
from dexa.testing.script import Turn
from dexa.testing.scripted import reply, text, tool_use

ORG = "org_demo"
PROMPT = "Make sure every customer meeting this week has a follow-up scheduled."
Planner = Callable[[ModelRequest], Turn]


def _history(request: ModelRequest) -> list[tuple[str, dict[str, Any], str]]:
    """(tool name, input, result text) for every tool call so far, in order."""
    uses: dict[str, ToolUseBlock] = {}
    out: list[tuple[str, dict[str, Any], str]] = []
    for message in request.messages:
        for use in message.tool_uses:
            uses[use.id] = use
        for result in message.tool_results:
            use = uses.get(result.tool_use_id)
            if use is not None:
                out.append((use.name, use.input, result.content))
    return out


def _json(content: str) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return {}


class FollowUpPlanner:
    """The scripted agent: each step reads the tool results it has seen, like a model would."""

    def __init__(self, week_start: Any) -> None:
        self.start = f"{week_start.isoformat()}T00:00:00Z"
        self.end = f"{(week_start + timedelta(days=7)).isoformat()}T00:00:00Z"
        self.horizon = f"{(week_start + timedelta(days=21)).isoformat()}T00:00:00Z"
        self.next_mon = week_start + timedelta(days=7)

    def __call__(self, request: ModelRequest) -> Turn:
        done = _history(request)
        step = sum(1 for m in request.messages if m.role == "assistant")
        if step == 0:
            return reply("Let me see which sources I can use.", tool_use("ListSources"))
        if step == 1:
            return reply(
                "Calendar, CRM, email and the meeting recorder are connected; loading them.",
                tool_use("LoadSourceTools", {"sources": ["calendar", "crm", "email", "meetings"]}),
            )
        if step == 2:
            return reply(
                "Listing this week's meetings and what is already scheduled after them.",
                tool_use("mcp__calendar__list_events", {"time_min": self.start, "time_max": self.horizon}),
                tool_use("mcp__meetings__list_recordings", {"time_min": self.start, "time_max": self.end}),
            )
        todo = self._missing_follow_ups(done)
        if step == 3:
            if not todo:
                return text("Every customer meeting this week already has a follow-up scheduled.")
            uses = [tool_use("mcp__crm__search_contacts", {"query": m["customer"]}) for m in todo]
            uses += [
                tool_use("mcp__meetings__get_transcript", {"recording_id": m["recording"]})
                for m in todo
                if m["recording"]
            ]
            return reply(
                f"{len(todo)} customer meeting(s) have no follow-up yet: "
                + ", ".join(m["summary"] for m in todo)
                + ". Checking the CRM and transcripts.",
                *uses,
            )
        if step == 4:
            return self._stage(todo, done)
        if step == 5:
            drafts = [_json(c) for n, _, c in done if n == "mcp__email__create_draft"]
            return reply(
                "Drafts written; staging them to be sent.",
                *[tool_use("mcp__email__send_draft", {"draft_id": d["id"]}) for d in drafts if d.get("id")],
            )
        staged = sum(1 for _, _, c in done if c.startswith("Staged as out_"))
        return text(
            f"Done. {len(todo)} customer meeting(s) lacked a follow-up. I staged {staged} item(s) for your "
            "review: follow-up emails, calendar invites for next week and CRM tasks. Nothing was sent."
        )

    def _missing_follow_ups(self, done: list[tuple[str, dict[str, Any], str]]) -> list[dict[str, Any]]:
        events = next((_json(c).get("events", []) for n, _, c in done if n == "mcp__calendar__list_events"), [])
        recordings = next(
            (_json(c).get("recordings", []) for n, _, c in done if n == "mcp__meetings__list_recordings"), []
        )
        todo: list[dict[str, Any]] = []
        for event in events:
            if not (self.start[:10] <= event["start"][:10] < self.end[:10]):
                continue
            external = [a["email"] for a in event["attendees"] if not a["email"].endswith("@" + ORG_DOMAIN)]
            if not external:
                continue  # internal meeting
            later = [
                e for e in events if e["start"] > event["end"] and any(a["email"] in external for a in e["attendees"])
            ]
            if later:
                continue
            recording = next((r["id"] for r in recordings if r.get("event_id") == event["id"]), None)
            todo.append({"event": event, "summary": event["summary"], "customer": external[0], "recording": recording})
        return todo

    def _stage(self, todo: list[dict[str, Any]], done: list[tuple[str, dict[str, Any], str]]) -> Turn:
        contacts = {
            c["email"]: c
            for n, _, content in done
            if n == "mcp__crm__search_contacts"
            for c in _json(content).get("contacts", [])
        }
        transcripts = {
            t["recording_id"]: t
            for n, _, content in done
            if n == "mcp__meetings__get_transcript"
            for t in [_json(content)]
            if t
        }
        uses: list[Turn] = []
        for i, meeting in enumerate(todo):
            contact = contacts.get(meeting["customer"], {})
            names = [n for n in (contact.get("name") or meeting["customer"]).split() if not n.endswith(".")]
            first = names[0] if names else "there"
            actions = transcripts.get(meeting["recording"] or "", {}).get("action_items", [])
            day = self.next_mon + timedelta(days=1 + i)
            start, end = f"{day.isoformat()}T15:00:00Z", f"{day.isoformat()}T15:30:00Z"
            title = meeting["summary"].split("—")[0].strip()
            bullet = "\n".join(f"- {a}" for a in actions) or "- Recap of what we discussed"
            uses.append(
                tool_use(
                    "mcp__email__create_draft",
                    {
                        "to": [meeting["customer"]],
                        "subject": f"Follow-up: {meeting['summary']}",
                        "body": f"Hi {first},\n\nThanks for your time this week. Next steps:\n{bullet}\n\n"
                        f"I've sent an invite for {day:%A %d %B} at 15:00 UTC to follow up.\n\nBest,\nMaya",
                    },
                )
            )
            uses.append(
                tool_use(
                    "mcp__calendar__create_event",
                    {
                        "summary": f"{title} — follow-up",
                        "start": start,
                        "end": end,
                        "attendees": [meeting["customer"], f"maya@{ORG_DOMAIN}"],
                        "description": "Follow-up scheduled by Dexa from this week's meeting.",
                    },
                )
            )
            if contact.get("id"):
                uses.append(
                    tool_use(
                        "mcp__crm__create_task",
                        {
                            "contact_id": contact["id"],
                            "subject": f"Follow up: {meeting['summary']}",
                            "due": day.isoformat(),
                        },
                    )
                )
        return reply("Drafting follow-ups, proposing invites for next week and adding CRM tasks.", *uses)


async def _run(console: Console, *, home: Path, approve_one: bool) -> int:
    from dexa.adapters.sqlite import SqliteStore
    from dexa.core.driver import InProcessDriver
    from dexa.core.engine import TurnEngine
    from dexa.core.environment import SessionEnv
    from dexa.core.session import Session, SessionConfig
    from dexa.core.tools import ToolRegistry
    from dexa.integrations.providers.demo import DemoCompany
    from dexa.integrations.session_tools import build_integrations, mcp_tools_for_session
    from dexa.integrations.vault import MemoryVault
    from dexa.testing.fakes import DirWorkspace, RulePolicy, StaticEnvs
    from dexa.testing.scripted import FunctionModel

    store = SqliteStore(home / "dexa.db")
    demo = DemoCompany(home / "demo-company.db")
    holder: dict[str, TurnEngine] = {}

    async def control_emit(session_id: str, type_: str, data: Any) -> None:
        await holder["engine"].emit(session_id, type_, dict(data))

    integrations = build_integrations(store, MemoryVault(), emit=control_emit, demo=demo)
    await integrations.registry.add(ORG, {"provider": "demo"})
    session = Session(
        id="ses_demo_followups",
        org_id=ORG,
        user_id="usr_demo",
        cwd=str(home),
        model="scripted",
        config=SessionConfig(headless=True),
        created_at=time.time(),
    )
    await store.create_session(session)

    async def session_emit(type_: str, data: Any) -> None:
        await holder["engine"].emit(session.id, type_, dict(data))

    tools, manager = await mcp_tools_for_session(
        session, integrations=integrations, kv=store, emit=session_emit, env={}
    )
    registry = ToolRegistry(tools)
    manager.attach(registry)
    model = FunctionModel(FollowUpPlanner(demo.week_start), name="scripted-demo")
    env = SessionEnv(
        model=model,
        tools=registry,
        policy=RulePolicy(),
        workspace=DirWorkspace(home),
        system_prompt="You are Dexa, a business assistant.",
        can_prompt=False,
    )
    engine = TurnEngine(store, StaticEnvs(env))
    holder["engine"] = engine
    try:
        console.print(f"[bold]Task:[/] {PROMPT}\n")
        await engine.submit(session.id, PROMPT)
        done = await InProcessDriver(engine).run(session.id, wait_for_approvals=False)
        _print_transcript(console, model.calls[-1])
        console.print(f"[bold]Dexa:[/] {escape(done.result)}\n")
        pending = await integrations.queue.list(ORG, session_id=session.id, status="pending")
        _print_queue(console, pending)
        sent, invites = demo.outbox(), demo.invitations()
        console.print(f"Outbox: {len(sent)} sent email(s); {len(invites)} calendar invitation(s) delivered.")
        if sent or invites or not pending:
            console.print("[bold red]demo failed: something was sent before approval or nothing was staged[/]")
            return 1
        console.print("[green]Nothing was sent: every email, invite and CRM task waits for a reviewer.[/]")
        if approve_one:
            first = next(o for o in pending if o["kind"] == "email")
            result = await integrations.queue.approve(ORG, first["id"], by="usr_demo")
            console.print(
                f"\nApproved {first['id']}: {result['status']}; outbox now holds {len(demo.outbox())} "
                f"email(s), to {', '.join(demo.outbox()[0]['to'])}."
            )
        else:
            console.print("Approve one with the API (POST /outputs/{id}/approve) or `dexa business-demo --approve`.")
        return 0
    finally:
        await manager.aclose()
        demo.close()
        store.close()


def _print_transcript(console: Console, request: ModelRequest) -> None:
    names: dict[str, str] = {}
    for message in request.messages[1:]:
        if message.role == "assistant":
            if message.text:
                console.print(f"[bold]Dexa:[/] {escape(message.text)}", soft_wrap=True)
            names.update({u.id: u.name for u in message.tool_uses})
        for result in message.tool_results:
            console.print(
                f"  [dim]{names.get(result.tool_use_id, 'tool')}[/] → {escape(_gist(result.content))}", soft_wrap=True
            )


def _gist(content: str) -> str:
    data = _json(content) if content.startswith("{") else None
    if isinstance(data, dict) and data:
        if data.get("id"):
            return f"{data['id']} {data.get('subject') or data.get('summary') or ''}".strip()
        lists = {k: v for k, v in data.items() if isinstance(v, list)}
        return ", ".join(f"{len(v)} {k}" for k, v in lists.items()) or "ok"
    first = content.splitlines()[0] if content else ""
    return first if len(first) <= 90 else first[:89] + "…"


def _print_queue(console: Console, pending: list[dict[str, Any]]) -> None:
    console.print(f"[bold]Review queue[/] ({len(pending)} staged, nothing sent):")
    for o in pending:
        to = f" → {', '.join(o['recipients'])}" if o["recipients"] else ""
        console.print(f"  [cyan]{o['id']}[/] [bold]{o['kind']}[/] {escape(o['target'] + to)}", soft_wrap=True)
        for line in o["preview"].splitlines()[1:4] if o["kind"] == "email" else o["preview"].splitlines()[:1]:
            if line.strip():
                console.print(f"      {escape(line)}", soft_wrap=True)
    console.print()


def run_business_demo(*, approve_one: bool = False, console: Console | None = None, home: Path | None = None) -> int:
    """Run the follow-ups demo offline; returns a process exit code (0 = staged, nothing sent)."""
    console = console or Console()
    if home is not None:
        home.mkdir(parents=True, exist_ok=True)
        return asyncio.run(_run(console, home=home, approve_one=approve_one))
    with tempfile.TemporaryDirectory(prefix="dexa-demo-") as tmp:
        return asyncio.run(_run(console, home=Path(tmp), approve_one=approve_one))


def register(app: typer.Typer) -> None:
    """Mount `dexa business-demo` on the main CLI."""

    @app.command("business-demo")
    def business_demo(
        approve: bool = typer.Option(False, "--approve", help="Approve one staged email and show it sent"),
    ) -> None:
        """Offline demo: make sure every customer meeting this week has a follow-up (staged, nothing sent)."""
        raise typer.Exit(run_business_demo(approve_one=approve))
