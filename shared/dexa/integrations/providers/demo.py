"""Embedded demo providers over one SQLite file: the offline stand-in for Google, HubSpot, Slack and Zendesk.

`DemoCompany.outbox()` and `.invitations()` are what "actually sent" means in the demo, so tests can assert that
nothing left before approval.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from dexa.core.errors import NotFoundError, ToolInputError

from .base import Doc
from .demo_seed import VERSION, seed


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _now() -> str:
    return datetime.now(UTC).isoformat()


def utc(value: str) -> str:
    """Normalise an ISO 8601 time to the UTC form the demo tables store, so string comparison is correct."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ToolInputError(f"not an ISO 8601 date-time: {value!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat()


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(5)}"


class DemoCompany:
    """The fake company. A file path keeps it across processes: `dexa serve`, `dexa outputs` and the demo share it.

    A file seeded before stays as it is (its week included) unless it predates the current tables.
    """

    def __init__(self, path: str | Path = ":memory:", *, week_start: date | None = None, user: str = "maya") -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        # Demo data: WAL without fsync per commit keeps seeding and each write fast.
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        # Two processes (a server and the CLI) may write the same file.
        self.db.execute("PRAGMA busy_timeout=5000")
        if self._stale():
            self._drop()
        seed(self.db, monday_of(week_start or datetime.now(UTC).date()), user=user)
        self.week_start = date.fromisoformat(self._meta("seeded"))
        self.calendar = DemoCalendar(self)
        self.email = DemoEmail(self)
        self.crm = DemoCrm(self)
        self.chat = DemoChat(self)
        self.tickets = DemoTickets(self)
        self.meetings = DemoMeetings(self)

    def _meta(self, key: str) -> str:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return str(row[0]) if row else ""

    def _stale(self) -> bool:
        tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        return "meta" in tables and self._meta("seeded") != "" and self._meta("version") != VERSION

    def _drop(self) -> None:
        for (name,) in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
            self.db.execute(f'DROP TABLE "{name}"')
        self.db.commit()

    def reset(self, *, week_start: date | None = None, user: str = "maya") -> None:
        """Start the company over: seeded afresh for `week_start`'s week (default: this week)."""
        self._drop()
        seed(self.db, monday_of(week_start or datetime.now(UTC).date()), user=user)
        self.week_start = date.fromisoformat(self._meta("seeded"))

    @property
    def user(self) -> Doc:
        """The person whose mailbox and calendar these are."""
        email = self._meta("user")
        return dict(self.one("SELECT * FROM staff WHERE email=?", (email,), f"staff member {email}"))

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        return self.db.execute(sql, params).fetchall()

    def one(self, sql: str, params: tuple[Any, ...], what: str) -> sqlite3.Row:
        row = self.db.execute(sql, params).fetchone()
        if row is None:
            raise NotFoundError(what)
        return row

    def write(self, sql: str, params: tuple[Any, ...]) -> None:
        self.db.execute(sql, params)
        self.db.commit()

    def outbox(self) -> list[Doc]:
        return [
            {**dict(r), "to": json.loads(r["recipients"])} for r in self.rows("SELECT * FROM outbox ORDER BY sent_at")
        ]

    def invitations(self) -> list[Doc]:
        return [dict(r) for r in self.rows("SELECT * FROM invitations ORDER BY at")]

    def close(self) -> None:
        self.db.close()


def _event(row: sqlite3.Row) -> Doc:
    return {
        "id": row["id"],
        "summary": row["summary"],
        "description": row["description"],
        "start": row["start"],
        "end": row["end"],
        "location": row["location"],
        "organizer": row["organizer"],
        "attendees": json.loads(row["attendees"]),
    }


class DemoCalendar:
    def __init__(self, co: DemoCompany) -> None:
        self.co = co

    async def list_events(self, *, time_min: str, time_max: str, query: str | None = None) -> list[Doc]:
        rows = self.co.rows(
            "SELECT * FROM events WHERE start < ? AND end > ? ORDER BY start", (utc(time_max), utc(time_min))
        )
        events = [_event(r) for r in rows]
        if query:
            events = [e for e in events if query.lower() in json.dumps(e).lower()]
        return events

    async def get_event(self, event_id: str) -> Doc:
        return _event(self.co.one("SELECT * FROM events WHERE id=?", (event_id,), f"event {event_id}"))

    async def busy(self, emails: list[str], *, time_min: str, time_max: str) -> dict[str, list[tuple[str, str]]]:
        out: dict[str, list[tuple[str, str]]] = {e: [] for e in emails}
        for event in await self.list_events(time_min=time_min, time_max=time_max):
            for attendee in event["attendees"]:
                if attendee["email"] in out:
                    out[attendee["email"]].append((event["start"], event["end"]))
        return out

    async def create_event(self, event: Doc, *, send_updates: bool) -> Doc:
        event_id = _id("ev")
        attendees = [{"email": e, "name": "", "response": "needsAction"} for e in event.get("attendees", [])]
        self.co.write(
            "INSERT INTO events VALUES (?,?,?,?,?,?,?,?)",
            (
                event_id,
                event["summary"],
                event.get("description", ""),
                utc(event["start"]),
                utc(event["end"]),
                event.get("location", ""),
                "dexa",
                json.dumps(attendees),
            ),
        )
        if send_updates:
            for a in attendees:
                self.co.write("INSERT INTO invitations VALUES (?,?,?,?)", (event_id, a["email"], "invite", _now()))
        return await self.get_event(event_id)

    async def update_event(self, event_id: str, patch: Doc, *, send_updates: bool) -> Doc:
        current = await self.get_event(event_id)
        merged = {**current, **patch}
        if "attendees" in patch:
            merged["attendees"] = [{"email": e, "name": "", "response": "needsAction"} for e in patch["attendees"]]
        self.co.write(
            "UPDATE events SET summary=?, description=?, start=?, end=?, attendees=? WHERE id=?",
            (
                merged["summary"],
                merged["description"],
                merged["start"],
                merged["end"],
                json.dumps(merged["attendees"]),
                event_id,
            ),
        )
        if send_updates:
            for a in merged["attendees"]:
                self.co.write("INSERT INTO invitations VALUES (?,?,?,?)", (event_id, a["email"], "update", _now()))
        return await self.get_event(event_id)

    async def respond_to_event(self, event_id: str, response: str) -> Doc:
        await self.get_event(event_id)
        self.co.write(
            "INSERT INTO invitations VALUES (?,?,?,?)", (event_id, "organizer", f"response:{response}", _now())
        )
        return {"event_id": event_id, "response": response}


class DemoEmail:
    def __init__(self, co: DemoCompany) -> None:
        self.co = co

    async def profile(self) -> Doc:
        return self.co.user

    async def search_threads(self, query: str, *, max_results: int = 20) -> list[Doc]:
        terms = [t for t in query.lower().split() if ":" not in t]
        senders = [t.split(":", 1)[1] for t in query.lower().split() if t.startswith("from:")]
        out: list[Doc] = []
        for thread in self.co.rows("SELECT * FROM threads ORDER BY id"):
            msgs = self.co.rows("SELECT * FROM messages WHERE thread_id=? ORDER BY date", (thread["id"],))
            blob = (thread["subject"] + " " + " ".join(m["body"] + " " + m["sender"] for m in msgs)).lower()
            if all(t in blob for t in terms) and all(any(s in m["sender"] for m in msgs) for s in senders):
                out.append(
                    {
                        "id": thread["id"],
                        "subject": thread["subject"],
                        "snippet": msgs[-1]["body"][:100] if msgs else "",
                    }
                )
        return out[:max_results]

    async def get_thread(self, thread_id: str) -> Doc:
        thread = self.co.one("SELECT * FROM threads WHERE id=?", (thread_id,), f"thread {thread_id}")
        msgs = self.co.rows("SELECT * FROM messages WHERE thread_id=? ORDER BY date", (thread_id,))
        return {
            "id": thread_id,
            "subject": thread["subject"],
            "messages": [
                {
                    "id": m["id"],
                    "from": m["sender"],
                    "to": json.loads(m["recipients"]),
                    "date": m["date"],
                    "body": m["body"],
                }
                for m in msgs
            ],
        }

    async def create_draft(
        self, *, to: list[str], subject: str, body: str, cc: list[str] | None = None, thread_id: str | None = None
    ) -> Doc:
        draft_id = _id("dr")
        self.co.write(
            "INSERT INTO drafts VALUES (?,?,?,?,?,?,?)",
            (draft_id, json.dumps(to), json.dumps(cc or []), subject, body, thread_id, _now()),
        )
        return await self.get_draft(draft_id)

    async def get_draft(self, draft_id: str) -> Doc:
        row = self.co.one("SELECT * FROM drafts WHERE id=?", (draft_id,), f"draft {draft_id}")
        return {
            "id": row["id"],
            "from": self.co.user["email"],
            "to": json.loads(row["recipients"]),
            "cc": json.loads(row["cc"]),
            "subject": row["subject"],
            "body": row["body"],
            "thread_id": row["thread_id"],
        }

    async def send_draft(self, draft_id: str) -> Doc:
        draft = await self.get_draft(draft_id)
        if self.co.rows("SELECT 1 FROM outbox WHERE draft_id=?", (draft_id,)):
            raise ToolInputError(f"draft {draft_id} was already sent")
        message_id = _id("msg")
        self.co.write(
            "INSERT INTO outbox VALUES (?,?,?,?,?,?,?)",
            (
                message_id,
                draft_id,
                json.dumps(draft["to"] + draft["cc"]),
                draft["subject"],
                draft["body"],
                draft["thread_id"],
                _now(),
            ),
        )
        return {"id": message_id, "draft_id": draft_id, "thread_id": draft["thread_id"], "to": draft["to"]}


class DemoCrm:
    def __init__(self, co: DemoCompany) -> None:
        self.co = co

    async def search_contacts(self, query: str, *, limit: int = 20) -> list[Doc]:
        like = f"%{query.lower()}%"
        rows = self.co.rows(
            "SELECT * FROM contacts WHERE lower(name) LIKE ? OR lower(email) LIKE ? OR lower(company) LIKE ? LIMIT ?",
            (like, like, like, limit),
        )
        return [await self.get_contact(r["id"]) for r in rows]

    async def get_contact(self, contact_id: str) -> Doc:
        row = self.co.one("SELECT * FROM contacts WHERE id=?", (contact_id,), f"contact {contact_id}")
        deals = [
            d["id"]
            for d in self.co.rows("SELECT id, contact_ids FROM deals")
            if contact_id in json.loads(d["contact_ids"])
        ]
        return {**dict(row), "deal_ids": deals}

    async def get_deal(self, deal_id: str) -> Doc:
        row = self.co.one("SELECT * FROM deals WHERE id=?", (deal_id,), f"deal {deal_id}")
        return {**dict(row), "contact_ids": json.loads(row["contact_ids"])}

    async def update_deal(self, deal_id: str, properties: Doc) -> Doc:
        await self.get_deal(deal_id)
        for key, value in properties.items():
            self.co.write(f"UPDATE deals SET {key}=? WHERE id=?", (value, deal_id))  # keys validated by the server
        return await self.get_deal(deal_id)

    async def create_note(self, contact_id: str, body: str) -> Doc:
        await self.get_contact(contact_id)
        note_id = _id("note")
        self.co.write("INSERT INTO notes VALUES (?,?,?,?)", (note_id, contact_id, body, _now()))
        return {"id": note_id, "contact_id": contact_id, "body": body}

    async def create_task(self, contact_id: str, subject: str, due: str | None = None) -> Doc:
        await self.get_contact(contact_id)
        task_id = _id("task")
        self.co.write("INSERT INTO tasks VALUES (?,?,?,?,?)", (task_id, contact_id, subject, due, "open"))
        return {"id": task_id, "contact_id": contact_id, "subject": subject, "due": due, "status": "open"}


class DemoChat:
    def __init__(self, co: DemoCompany) -> None:
        self.co = co

    async def read_channel(self, channel: str, *, limit: int = 50) -> list[Doc]:
        rows = self.co.rows(
            "SELECT * FROM chat WHERE channel=? AND thread_ts IS NULL ORDER BY ts DESC LIMIT ?", (channel, limit)
        )
        return [dict(r) for r in rows]

    async def read_thread(self, channel: str, thread_ts: str) -> list[Doc]:
        rows = self.co.rows(
            "SELECT * FROM chat WHERE channel=? AND (ts=? OR thread_ts=?) ORDER BY ts", (channel, thread_ts, thread_ts)
        )
        return [dict(r) for r in rows]

    async def send_message(self, channel: str, text: str, *, thread_ts: str | None = None) -> Doc:
        ts = f"{datetime.now(UTC).timestamp():.6f}"
        self.co.write("INSERT INTO chat VALUES (?,?,?,?,?)", (ts, channel, "dexa", text, thread_ts))
        return {"ts": ts, "channel": channel, "text": text, "thread_ts": thread_ts}


class DemoTickets:
    def __init__(self, co: DemoCompany) -> None:
        self.co = co

    async def search_tickets(self, query: str, *, limit: int = 25) -> list[Doc]:
        status = next((t.split(":", 1)[1] for t in query.split() if t.startswith("status:")), None)
        terms = [t.lower() for t in query.split() if ":" not in t]
        rows = self.co.rows("SELECT * FROM tickets ORDER BY id")
        out = [
            dict(r)
            for r in rows
            if (status is None or r["status"] == status)
            and all(t in (r["subject"] + " " + r["description"]).lower() for t in terms)
        ]
        return out[:limit]

    async def get_ticket(self, ticket_id: str) -> Doc:
        row = self.co.one("SELECT * FROM tickets WHERE id=?", (ticket_id,), f"ticket {ticket_id}")
        comments = [
            {"author": c["author"], "body": c["body"], "public": bool(c["public"])}
            for c in self.co.rows("SELECT * FROM comments WHERE ticket_id=? ORDER BY created", (ticket_id,))
        ]
        return {**dict(row), "comments": comments}

    async def create_ticket(
        self, *, subject: str, body: str, requester: str | None = None, priority: str | None = None
    ) -> Doc:
        next_id = str(max(int(r["id"]) for r in self.co.rows("SELECT id FROM tickets")) + 1)
        self.co.write(
            "INSERT INTO tickets VALUES (?,?,?,?,?,?,?)",
            (next_id, subject, "new", priority or "normal", requester or "dexa", body, _now()),
        )
        return await self.get_ticket(next_id)

    async def add_comment(self, ticket_id: str, body: str, *, public: bool) -> Doc:
        await self.get_ticket(ticket_id)
        self.co.write(
            "INSERT INTO comments VALUES (?,?,?,?,?,?)", (_id("cm"), ticket_id, "dexa", body, int(public), _now())
        )
        return await self.get_ticket(ticket_id)


class DemoMeetings:
    def __init__(self, co: DemoCompany) -> None:
        self.co = co

    async def list_recordings(self, *, time_min: str, time_max: str) -> list[Doc]:
        rows = self.co.rows(
            "SELECT * FROM recordings WHERE start >= ? AND start < ? ORDER BY start", (utc(time_min), utc(time_max))
        )
        return [{**dict(r), "participants": json.loads(r["participants"])} for r in rows]

    async def get_transcript(self, recording_id: str) -> Doc:
        row = self.co.one(
            "SELECT * FROM transcripts WHERE recording_id=?", (recording_id,), f"transcript {recording_id}"
        )
        return {"recording_id": recording_id, "text": row["text"], "action_items": json.loads(row["action_items"])}
