"""The `dexa chat` slash commands: Claude Code's built-ins plus the project's own (`.claude/commands/*.md`, plugin
commands, skills), all over the HTTP API.

Built-ins run here in the client. A custom command is expanded by the server (its `!`cmd`` lines run in the
session's workspace) and becomes the next turn. A name that is neither is an error shown to the user, never a
prompt for the model, and never the reason a session is created.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

from dexa.cli.rewind_cmd import checkpoint_table, print_report
from dexa.core.errors import ConfigError

if TYPE_CHECKING:
    from dexa.api.schemas.config import SkillPublic
    from dexa.client.repl import ChatRepl

Handler = Callable[["ChatRepl", str], Awaitable[bool | None]]

# Name -> (arguments hint, what it does). /help prints them in this order.
BUILTINS: dict[str, tuple[str, str]] = {
    "help": ("", "Show the commands, the project's own included"),
    "clear": ("", "Start a new conversation (the current one stays resumable)"),
    "compact": ("", "Summarise the conversation so far to free context"),
    "rewind": ("", "Restore the code and/or the conversation to a checkpoint"),
    "cost": ("", "Tokens and cost of this session"),
    "model": ("[model]", "Show the model, or switch to another from the next call on"),
    "mcp": ("", "MCP servers of this session and their status"),
    "permissions": ("", "Permission mode and the allow / ask / deny rules in effect"),
    "agents": ("", "Subagents available in this project"),
    "memory": ("", "Memory files loaded for this project (CLAUDE.md, rules, imports)"),
    "resume": ("[session id]", "Continue a previous session of this directory"),
    "status": ("", "Session, model, mode, working directory and usage"),
    "skills": ("", "Skills available in this project"),
    "mode": ("[mode]", "Show or set the permission mode"),
    "plan": ("[prompt]", "Switch to plan mode (and send the prompt, if any)"),
    "plugin": ("", "Plugins enabled in this project"),
    "exit": ("", "Leave (also /quit, Ctrl-D)"),
}
RESUME_LIMIT = 20
REWIND_CHOICES = {"b": "both", "both": "both", "c": "code", "code": "code", "o": "conversation"}
REWIND_CHOICES["conversation"] = "conversation"
CONFLICT_CHOICES = {"k": "keep_copy", "o": "overwrite"}


async def _custom(repl: ChatRepl) -> list[SkillPublic]:
    return [s for s in (await repl.client.list_skills(cwd=repl.spec.cwd)).data if s.name not in BUILTINS]


async def help_(repl: ChatRepl, args: str) -> None:
    table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    for name, (hint, what) in BUILTINS.items():
        table.add_row(f"/{name}" + (f" {hint}" if hint else ""), what)
    repl.console.print("[bold]Commands[/]")
    repl.console.print(table)
    custom = await _custom(repl)
    if custom:
        mine = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
        for s in custom:
            mine.add_row(f"/{s.name}", f"{s.description} [dim]({s.kind}, {s.source})[/]")
        repl.console.print("[bold]This project's commands and skills[/]")
        repl.console.print(mine)


async def clear(repl: ChatRepl, args: str) -> None:
    before = repl.session_id
    await repl.switch_to(None)
    tail = f" Session {before} stays resumable (/resume {before})." if before else ""
    repl.console.print(f"[green]New conversation:[/] it starts with your next prompt.{tail}")


def _need_session(repl: ChatRepl, what: str) -> str | None:
    if repl.session_id is None:
        repl.console.print(f"[dim]No conversation yet: {what} once you have sent a prompt.[/]")
    return repl.session_id


async def compact(repl: ChatRepl, args: str) -> None:
    sid = _need_session(repl, "compact it")
    if sid is None:
        return
    if args:
        repl.console.print("[dim]Focus instructions are not supported yet; compacting everything.[/]")
    repl.spinner.begin()
    try:
        done = await repl.client.compact(sid)
    finally:
        repl.spinner.stop()
    await repl.sync()
    if not done.compacted:
        repl.console.print(f"[dim]Nothing to compact: the conversation is short ({done.messages} messages).[/]")
        return
    repl.console.print(
        f"[green]Compacted:[/] {done.summarized_messages} messages summarised, {done.kept_messages} kept as they were."
    )


def _label(cp: dict[str, object]) -> str:
    when = cp.get("created_at")
    stamp = time.strftime("%H:%M:%S", time.localtime(float(when))) if isinstance(when, int | float) else "?"
    label = cp.get("label") or cp.get("reason") or "checkpoint"
    return f"{stamp}  {label}"


async def rewind(repl: ChatRepl, args: str) -> None:
    sid = _need_session(repl, "rewind")
    if sid is None:
        return
    points = (await repl.client.checkpoints(sid)).data
    if not points:
        repl.console.print("[dim]No checkpoints in this session yet.[/]")
        return
    rows = [cp.model_dump() for cp in points]
    try:
        repl.console.print(checkpoint_table(rows))  # the same table as `dexa rewind SESSION`
        numbers = {str(r["seq"]): str(r["id"]) for r in rows}
    except KeyError:  # a server that lists fewer fields
        for i, cp in enumerate(rows, 1):
            repl.console.print(f"  [bold]{i:>2}[/]  {escape(_label(cp))}  [dim]{cp['id']}[/]")
        numbers = {str(i): str(cp["id"]) for i, cp in enumerate(rows, 1)}
    numbers.update({str(r["id"]): str(r["id"]) for r in rows})
    chosen = await repl.pick("Rewind to which checkpoint? (#, empty to cancel) ", numbers)
    if chosen is None:
        repl.console.print("[dim]Never mind: nothing changed.[/]")
        return
    mode = await repl.pick("Restore [b]oth code and conversation / [c]ode only / c[o]nversation only? ", REWIND_CHOICES)
    if mode is None:
        repl.console.print("[dim]Never mind: nothing changed.[/]")
        return
    report = (await repl.client.rewind(sid, chosen, mode=mode, on_conflict="ask")).details
    if report.get("status") == "conflict":
        print_report(report, repl.console, session_id=sid)
        how = await repl.pick("[k]eep a copy and restore, [o]verwrite, or cancel (empty): ", CONFLICT_CHOICES)
        if how is None:
            repl.console.print("[dim]Never mind: nothing changed.[/]")
            return
        report = (await repl.client.rewind(sid, chosen, mode=mode, on_conflict=how)).details
    await repl.sync()
    print_report(report, repl.console, session_id=sid)


async def cost(repl: ChatRepl, args: str) -> None:
    if repl.session_id is None:
        repl.console.print("Total cost: $0.0000 (no prompt sent yet)")
        return
    s = await repl.client.get_session(repl.session_id)
    u = s.usage
    repl.console.print(f"Total cost:  ${s.cost_usd:.4f}")
    repl.console.print(
        f"Tokens:      {u.input_tokens:,} input, {u.output_tokens:,} output, "
        f"{u.cache_read_input_tokens:,} cache read, {u.cache_creation_input_tokens:,} cache write"
    )
    repl.console.print(f"Turns:       {s.turns_completed}")


async def model(repl: ChatRepl, args: str) -> None:
    wanted = args.strip()
    if repl.session_id is None:
        if wanted:
            repl.spec.model = wanted
            repl.console.print(f"Model set to [bold]{escape(wanted)}[/] for the new session.")
        else:
            repl.console.print(f"Model: [bold]{escape(repl.spec.model or 'the server default')}[/]")
        return
    if not wanted:
        current = (await repl.client.get_session(repl.session_id)).model
        repl.console.print(f"Model: [bold]{escape(current)}[/] (/model NAME switches: sonnet, opus, haiku or an id)")
        return
    updated = await repl.client.set_model(repl.session_id, wanted)
    repl.console.print(f"Model set to [bold]{escape(updated.model)}[/] from the next model call on.")


async def mcp(repl: ChatRepl, args: str) -> None:
    sid = _need_session(repl, "MCP servers start with the session; see them here")
    if sid is None:
        repl.console.print("[dim]`dexa mcp list` checks the configured servers now.[/]")
        return
    servers = (await repl.client.mcp_servers(sid)).data
    if not servers:
        repl.console.print("No MCP servers configured (`dexa mcp add` adds one).")
        return
    for s in servers:
        ok = s.status == "connected" and not s.error
        mark = "[green]✔ connected[/]" if ok else f"[red]✘ {escape(s.status)}[/]"
        tools = f" · {len(s.tools)} tools" if ok else f" — {escape(s.error)}" if s.error else ""
        repl.console.print(f"  {escape(s.name)} [dim]({escape(s.source)})[/] {mark}{tools}")


async def permissions(repl: ChatRepl, args: str) -> None:
    doc = await repl.client.get_permission_settings(cwd=repl.spec.cwd)
    repl.console.print(f"Mode: [bold]{repl.mode}[/] (Shift+Tab or /mode to change)")
    eff = doc.effective
    for kind, rules in (("allow", eff.allow), ("ask", eff.ask), ("deny", eff.deny)):
        repl.console.print(f"  {kind:<5} {escape(', '.join(rules)) if rules else '[dim](none)[/]'}")
    if eff.files:
        repl.console.print(f"[dim]from {escape(', '.join(eff.files))}[/]")
    for p in doc.problems:
        repl.console.print(f"[yellow]  problem:[/] {escape(p.file)}: {escape(p.key)}: {escape(p.message)}")


async def agents(repl: ChatRepl, args: str) -> None:
    rows = (await repl.client.list_agents(cwd=repl.spec.cwd)).data
    if not rows:
        repl.console.print("No subagents (add one in .claude/agents/NAME.md).")
    for a in rows:
        repl.console.print(f"  [bold]{escape(a.name)}[/] [dim]({escape(a.source)})[/] {escape(a.description)}")


async def memory(repl: ChatRepl, args: str) -> None:
    doc = await repl.client.get_memory(cwd=repl.spec.cwd)
    if not doc.files:
        repl.console.print("No memory files loaded (CLAUDE.md in the project or ~/.claude).")
    for f in doc.files:
        via = f" [dim](imported from {escape(f.imported_from)})[/]" if f.imported_from else ""
        repl.console.print(f"  {escape(f.scope):<8} {escape(f.path)}{via}")
    for p in doc.problems:
        repl.console.print(f"[yellow]  problem:[/] {escape(p.file)}: {escape(p.message)}")


async def skills(repl: ChatRepl, args: str) -> None:
    rows = [s for s in await _custom(repl) if s.kind == "skill"]
    if not rows:
        repl.console.print("No skills (add one in .claude/skills/NAME/SKILL.md).")
    for s in rows:
        repl.console.print(f"  [bold]/{escape(s.name)}[/] [dim]({escape(s.source)})[/] {escape(s.description)}")


async def resume(repl: ChatRepl, args: str) -> None:
    wanted = args.strip()
    if wanted:
        await repl.client.get_session(wanted)  # a wrong id fails here, before anything changes
        await _resumed(repl, wanted)
        return
    rows = [
        s for s in (await repl.client.list_sessions(limit=RESUME_LIMIT, cwd=repl.spec.cwd)).data if s.turns_completed
    ]
    rows = [s for s in rows if not s.parent_id]
    if not rows:
        repl.console.print("[dim]No previous sessions in this directory.[/]")
        return
    for i, s in enumerate(rows, 1):
        stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(s.updated_at))
        current = " [green](current)[/]" if s.id == repl.session_id else ""
        title = escape(s.title or "(untitled)")
        repl.console.print(f"  [bold]{i:>2}[/]  {stamp}  {title} [dim]· {s.turns_completed} turns · {s.id}[/]{current}")
    chosen = await repl.pick(
        "Resume which session? (number, empty to cancel) ", {str(i): s.id for i, s in enumerate(rows, 1)}
    )
    if chosen is None:
        repl.console.print("[dim]Never mind.[/]")
        return
    await _resumed(repl, chosen)


async def _resumed(repl: ChatRepl, session_id: str) -> None:
    await repl.switch_to(session_id)
    s = await repl.client.get_session(session_id)
    repl.console.print(f"[green]Resumed[/] {s.id}: {escape(s.title or '(untitled)')} · {s.turns_completed} turns")
    if s.result:
        repl.console.print(f"[dim]last answer:[/] {escape(s.result[:300])}")


async def status(repl: ChatRepl, args: str) -> None:
    if repl.session_id is None:
        repl.console.print(f"Session: new (created at the first prompt) · mode {repl.mode} · cwd {repl.spec.cwd}")
        return
    s = await repl.client.get_session(repl.session_id)
    repl.console.print(f"Session: {s.id} ({s.status})")
    repl.console.print(f"Model:   {escape(s.model)}   Mode: {s.permission_mode}")
    repl.console.print(f"Cwd:     {escape(s.cwd)}")
    repl.console.print(f"Turns:   {s.turns_completed}   Cost: ${s.cost_usd:.4f}")


async def mode(repl: ChatRepl, args: str) -> None:
    if not args.strip():
        repl.console.print(f"mode: {repl.mode}")
        return
    await repl.set_mode(args.split()[0])


async def plan(repl: ChatRepl, args: str) -> None:
    await repl.set_mode("plan")
    repl.console.print("[magenta]Plan mode: the agent plans and changes nothing.[/]")
    if args.strip():
        await repl.send(args.strip())


async def plugin(repl: ChatRepl, args: str) -> None:
    rows = (await repl.client.list_plugins(cwd=repl.spec.cwd)).data
    for p in rows:
        runs = f" [yellow]runs code: {escape(', '.join(p.runs_code))}[/]" if p.runs_code else ""
        repl.console.print(f"  [bold]{escape(p.name)}[/] {escape(p.version)} {escape(p.description)}{runs}")
    if not rows:
        repl.console.print("No plugins enabled.")
    repl.console.print("[dim]Install and manage them with `dexa plugins` (and `dexa plugins marketplace`).[/]")


async def exit_(repl: ChatRepl, args: str) -> bool:
    return True


HANDLERS: dict[str, Handler] = {
    "help": help_,
    "clear": clear,
    "compact": compact,
    "rewind": rewind,
    "cost": cost,
    "model": model,
    "mcp": mcp,
    "permissions": permissions,
    "agents": agents,
    "memory": memory,
    "resume": resume,
    "status": status,
    "skills": skills,
    "mode": mode,
    "plan": plan,
    "plugin": plugin,
    "exit": exit_,
    "quit": exit_,
}


async def dispatch(repl: ChatRepl, name: str, args: str) -> bool:
    """Run `/name args` in `repl`; True when the REPL should exit.

    Raises:
        DexaError: what the server said (shown by the REPL next to the command's name).
    """
    handler = HANDLERS.get(name)
    if handler is not None:
        return bool(await handler(repl, args))
    known = {s.name for s in await _custom(repl)}
    if name not in known:
        raise ConfigError(f"unknown command. /help lists the {len(BUILTINS)} built-in commands and this project's own")
    await repl.start_turn(lambda sid: repl.client.run_command(sid, f"/{name} {args}".rstrip()))
    return False
