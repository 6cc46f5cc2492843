"""The company an eval task runs against: the demo company (calendar, mail, CRM, chat, tickets, recordings) plus a
billing database reached through the SQLite database integration. Reset before every task."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Any

# What counts as "sent" or "applied": anything a person outside the agent's session would see.
VISIBLE = {
    "outbox": "SELECT recipients, subject, body, thread_id FROM outbox",
    "invitations": "SELECT event_id, attendee, kind FROM invitations",
    "events": "SELECT id, summary, start, end, attendees FROM events",
    "deals": "SELECT * FROM deals",
    "notes": "SELECT contact_id, body FROM notes",
    "tasks": "SELECT contact_id, subject, due FROM tasks",
    "tickets": "SELECT id, subject, status, priority, requester FROM tickets",
    "public_comments": "SELECT ticket_id, body FROM comments WHERE public = 1",
    "chat": "SELECT channel, text, thread_ts FROM chat",
}
INVOICES = [
    ("INV-1001", "Acme Corp", "ana.silva@acme.example", 4800.0, "paid", -30),
    ("INV-1002", "Acme Corp", "ana.silva@acme.example", 4800.0, "open", 10),
    ("INV-1003", "Globex", "tom.reed@globex.example", 12000.0, "overdue", -20),
    ("INV-1004", "Globex", "tom.reed@globex.example", 85.0, "overdue", -12),
    ("INV-1005", "Initech", "bill@initech.example", 1500.0, "open", 20),
    ("INV-1006", "Hooli", "gavin@hooli.example", 45.0, "overdue", -40),
    ("INV-1007", "Umbrella Health", "kei.ito@umbrella.example", 9000.0, "paid", -60),
    ("INV-1008", "Umbrella Health", "kei.ito@umbrella.example", 60.0, "overdue", -5),
]


def seed_billing(path: Path, week: date) -> None:
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE invoices (id TEXT PRIMARY KEY, customer TEXT NOT NULL, contact_email TEXT NOT NULL, "
            "amount REAL NOT NULL, status TEXT NOT NULL CHECK (status IN ('open','paid','overdue','void')), "
            "due TEXT NOT NULL)"
        )
        db.executemany(
            "INSERT INTO invoices VALUES (?,?,?,?,?,?)",
            [(i, c, e, a, s, (week + timedelta(days=d)).isoformat()) for i, c, e, a, s, d in INVOICES],
        )


class World:
    """Read access to the company's data for graders (the runtime owns the writes)."""

    def __init__(self, company: Any, billing: Path) -> None:
        self.company = company
        self.billing = billing

    @property
    def week(self) -> date:
        return self.company.week_start

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self.company.rows(sql, params)]

    def invoices(self) -> dict[str, dict[str, Any]]:
        with sqlite3.connect(self.billing) as db:
            db.row_factory = sqlite3.Row
            return {r["id"]: dict(r) for r in db.execute("SELECT * FROM invoices")}

    def snapshot(self) -> Mapping[str, Any]:
        snap: dict[str, Any] = {name: sorted(map(str, self.rows(sql))) for name, sql in VISIBLE.items()}
        snap["invoices"] = self.invoices()
        return snap
