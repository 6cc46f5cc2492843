"""Which managed-server calls are business outputs, of which type, and how a reviewer sees them.

The same classification is used by the staging gate (decide before the call) and by the managed servers in agent
mode (refuse the call if it ever got through), so a draft tool and a send tool can never be confused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Output types and their defaults when no org/session policy says otherwise (ARCHITECTURE's seed table).
DEFAULT_DECISIONS: dict[str, str] = {
    "email": "stage",
    "calendar_invite": "stage",
    "calendar_response": "stage",
    "crm_update": "stage",
    "chat_message": "stage",
    "ticket_comment": "stage",
    "ticket": "stage",
    "sql_change": "stage",
}

# (server kind, tool) -> output type. A tool missing here is not a business output (reads, drafts, internal notes).
_TYPES: dict[tuple[str, str], str] = {
    ("email", "send_draft"): "email",
    ("email", "send_email"): "email",
    ("calendar", "create_event"): "calendar_invite",
    ("calendar", "update_event"): "calendar_invite",
    ("calendar", "respond_to_event"): "calendar_response",
    ("crm", "update_deal"): "crm_update",
    ("crm", "create_note"): "crm_update",
    ("crm", "create_task"): "crm_update",
    ("chat", "send_message"): "chat_message",
    ("tickets", "create_ticket"): "ticket",
    ("database", "execute_sql"): "sql_change",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputShape:
    kind: str
    target: str
    recipients: tuple[str, ...]
    preview: str


# Writes Dexa's own servers know stay private (a draft, an internal note): they run directly, shown in the log.
_PRIVATE: frozenset[tuple[str, str]] = frozenset({("email", "create_draft"), ("tickets", "add_comment")})


def is_private_write(server_kind: str, tool: str, arguments: Mapping[str, Any]) -> bool:
    return (server_kind, tool) in _PRIVATE and output_type(server_kind, tool, arguments) is None


def output_type(server_kind: str, tool: str, arguments: Mapping[str, Any]) -> str | None:
    if server_kind == "tickets" and tool == "add_comment":
        # A public comment emails the requester (Zendesk); an internal one stays inside the team.
        return "ticket_comment" if bool(arguments.get("public", False)) else None
    return _TYPES.get((server_kind, tool))


def _emails(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if isinstance(value, list | tuple):
        out: list[str] = []
        for item in value:  # pyright: ignore[reportUnknownVariableType]
            if isinstance(item, Mapping):
                out.append(str(item.get("email", "")))  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
            else:
                out.append(str(item))  # pyright: ignore[reportUnknownArgumentType]
        return tuple(o for o in out if o)
    return ()


def _clip(text: str, limit: int = 600) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def shape(
    kind: str, tool: str, arguments: Mapping[str, Any], lookup: Mapping[str, Any] | None = None, *, server: str = ""
) -> OutputShape:
    """Target, recipients and a human-readable preview. `lookup` is extra context (e.g. the draft being sent)."""
    a = dict(arguments)
    extra = dict(lookup or {})
    if kind == "email":
        recipients = _emails(extra.get("to") or a.get("to")) + _emails(extra.get("cc") or a.get("cc"))
        subject = str(extra.get("subject") or a.get("subject") or "(no subject)")
        body = str(extra.get("body") or a.get("body") or "")
        return OutputShape(
            kind=kind,
            target=f"email: {subject}",
            recipients=recipients,
            preview=_clip(f"To: {', '.join(recipients) or '?'}\nSubject: {subject}\n\n{body}"),
        )
    if kind in ("calendar_invite", "calendar_response"):
        if kind == "calendar_response":
            return OutputShape(
                kind=kind,
                target=f"event {a.get('event_id', '?')}",
                recipients=(),
                preview=f"Respond '{a.get('response', '?')}' to event {a.get('event_id', '?')}",
            )
        attendees = _emails(a.get("attendees"))
        verb = "Update event" if tool == "update_event" else "Invite"
        title = str(a.get("summary") or a.get("event_id") or "(untitled)")
        when = f"{a.get('start', '?')} – {a.get('end', '?')}" if a.get("start") else ""
        return OutputShape(
            kind=kind,
            target=f"calendar: {title}",
            recipients=attendees,
            preview=_clip(
                f"{verb}: {title} {when}\nAttendees: {', '.join(attendees) or '-'}\n{a.get('description', '')}".rstrip()
            ),
        )
    if kind == "crm_update":
        if tool == "update_deal":
            props = json.dumps(a.get("properties", {}), sort_keys=True)
            return OutputShape(
                kind=kind,
                target=f"deal {a.get('deal_id', '?')}",
                recipients=(),
                preview=f"Update deal {a.get('deal_id', '?')}: {props}",
            )
        what = "Note" if tool == "create_note" else "Task"
        text = a.get("body") or a.get("subject") or ""
        due = f" (due {a['due']})" if a.get("due") else ""
        return OutputShape(
            kind=kind,
            target=f"contact {a.get('contact_id', '?')}",
            recipients=(),
            preview=_clip(f"{what} on contact {a.get('contact_id', '?')}{due}: {text}"),
        )
    if kind == "chat_message":
        channel = str(a.get("channel", "?"))
        return OutputShape(
            kind=kind,
            target=f"chat: {channel}",
            recipients=(channel,),
            preview=_clip(f"{channel}: {a.get('text', '')}"),
        )
    if kind == "ticket_comment":
        return OutputShape(
            kind=kind,
            target=f"ticket {a.get('ticket_id', '?')}",
            recipients=_emails(extra.get("requester")),
            preview=_clip(f"Public comment on ticket {a.get('ticket_id', '?')}: {a.get('body', '')}"),
        )
    if kind == "sql_change":
        return _sql_shape(kind, a, extra)
    if kind == "ticket":
        return OutputShape(
            kind=kind,
            target=f"ticket: {a.get('subject', '?')}",
            recipients=(),
            preview=_clip(f"New ticket: {a.get('subject', '')}\n{a.get('body', '')}"),
        )
    # Any other server's call: which server, which tool, and every argument, as the server will receive them.
    args = json.dumps(a, indent=2, sort_keys=True, default=str, ensure_ascii=False)
    return OutputShape(
        kind=kind,
        target=f"{server}: {tool}" if server else tool,
        recipients=(),
        preview=_clip(f"{server or 'MCP server'} · {tool}\n{args}", 2000),
    )


def _sql_shape(kind: str, a: Mapping[str, Any], dry_run: Mapping[str, Any]) -> OutputShape:
    """The statement, then what its rolled-back dry run changed, so a reviewer approves rows, not only SQL."""
    statement = str(a.get("sql", "")).strip()
    first = statement.split(None, 1)[0].upper() if statement else "?"
    if dry_run.get("error"):
        effect = f"Dry run failed: {dry_run['error']}"
    elif "rowcount" not in dry_run:
        effect = "Dry run: not available (the statement could not be previewed)"
    else:
        columns = [str(c) for c in dry_run.get("columns") or []]
        rows = list(dry_run.get("rows") or [])
        lines = [f"Dry run (rolled back): {dry_run['rowcount']} row(s) would change"]
        for row in rows[:10]:
            lines.append("  " + ", ".join(f"{c}={v!r}" for c, v in zip(columns, row, strict=False)))
        if len(rows) > 10 or dry_run.get("truncated"):
            lines.append("  …")
        effect = "\n".join(lines)
    return OutputShape(
        kind=kind,
        target=f"SQL {first}",
        recipients=(),
        preview=_clip(f"{statement}\n\n{effect}", 2000),
    )
