"""The embedded demo org: Northwind Labs, a small analytics company, and one realistic week of its business.

Everything is relative to the Monday of the week being seeded, so "this week" always has meetings to follow up.
The mailbox and calendar belong to one Northwind person (`meta.user`, Maya by default): drafts are written as them.
Customers sit in several time zones and people have other meetings, so a good follow-up needs free/busy and zones.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, date, datetime, time, timedelta

ORG_DOMAIN = "northwind.example"
# Bumped when the tables change: an older file is re-seeded rather than read with missing columns.
VERSION = "2"
SCHEMA = """
CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, summary TEXT, description TEXT, start TEXT, end TEXT,
  location TEXT, organizer TEXT, attendees TEXT);
CREATE TABLE IF NOT EXISTS invitations (event_id TEXT, attendee TEXT, kind TEXT, at TEXT);
CREATE TABLE IF NOT EXISTS threads (id TEXT PRIMARY KEY, subject TEXT);
CREATE TABLE IF NOT EXISTS messages (id TEXT PRIMARY KEY, thread_id TEXT, sender TEXT, recipients TEXT, date TEXT,
  body TEXT);
CREATE TABLE IF NOT EXISTS drafts (id TEXT PRIMARY KEY, recipients TEXT, cc TEXT, subject TEXT, body TEXT,
  thread_id TEXT, created TEXT);
CREATE TABLE IF NOT EXISTS outbox (id TEXT PRIMARY KEY, draft_id TEXT, recipients TEXT, subject TEXT, body TEXT,
  thread_id TEXT, sent_at TEXT);
CREATE TABLE IF NOT EXISTS contacts (id TEXT PRIMARY KEY, name TEXT, email TEXT, company TEXT, title TEXT,
  owner TEXT, timezone TEXT);
CREATE TABLE IF NOT EXISTS staff (email TEXT PRIMARY KEY, name TEXT, title TEXT, timezone TEXT);
CREATE TABLE IF NOT EXISTS deals (id TEXT PRIMARY KEY, name TEXT, stage TEXT, amount REAL, close_date TEXT,
  company TEXT, contact_ids TEXT, next_step TEXT);
CREATE TABLE IF NOT EXISTS notes (id TEXT PRIMARY KEY, contact_id TEXT, body TEXT, created TEXT);
CREATE TABLE IF NOT EXISTS tasks (id TEXT PRIMARY KEY, contact_id TEXT, subject TEXT, due TEXT, status TEXT);
CREATE TABLE IF NOT EXISTS chat (ts TEXT PRIMARY KEY, channel TEXT, user TEXT, text TEXT, thread_ts TEXT);
CREATE TABLE IF NOT EXISTS tickets (id TEXT PRIMARY KEY, subject TEXT, status TEXT, priority TEXT, requester TEXT,
  description TEXT, created TEXT);
CREATE TABLE IF NOT EXISTS comments (id TEXT PRIMARY KEY, ticket_id TEXT, author TEXT, body TEXT, public INTEGER,
  created TEXT);
CREATE TABLE IF NOT EXISTS recordings (id TEXT PRIMARY KEY, title TEXT, event_id TEXT, start TEXT,
  participants TEXT);
CREATE TABLE IF NOT EXISTS transcripts (recording_id TEXT PRIMARY KEY, text TEXT, action_items TEXT);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""

STAFF_TZ = "Europe/London"
PEOPLE = {
    "maya": ("Maya Chen", f"maya@{ORG_DOMAIN}", "Account Executive"),
    "leo": ("Leo Park", f"leo@{ORG_DOMAIN}", "Customer Success"),
    "priya": ("Priya Nair", f"priya@{ORG_DOMAIN}", "Support Lead"),
    "sam": ("Sam Ortiz", f"sam@{ORG_DOMAIN}", "Solutions Engineer"),
}
CONTACTS = [
    ("c_acme", "Ana Silva", "ana.silva@acme.example", "Acme Corp", "VP Operations", "maya", "America/New_York"),
    ("c_globex", "Tom Reed", "tom.reed@globex.example", "Globex", "Head of Data", "maya", "Europe/London"),
    ("c_initech", "Bill Lumbergh", "bill@initech.example", "Initech", "IT Director", "sam", "America/Chicago"),
    ("c_umbrella", "Dr. Kei Ito", "kei.ito@umbrella.example", "Umbrella Health", "CMIO", "leo", "Europe/Berlin"),
    ("c_hooli", "Gavin Belson", "gavin@hooli.example", "Hooli", "CEO", "maya", "America/Los_Angeles"),
]
DEALS = [
    ("d_acme", "Acme expansion (50 seats)", "proposal", 48000, "c_acme", "Acme Corp", "send pricing"),
    ("d_globex", "Globex renewal", "negotiation", 120000, "c_globex", "Globex", "legal review"),
    ("d_initech", "Initech pilot", "discovery", 15000, "c_initech", "Initech", "kickoff done"),
    ("d_umbrella", "Umbrella rollout", "closed_won", 90000, "c_umbrella", "Umbrella Health", "QBR"),
]


def _at(day: date, hour: int, minute: int = 0) -> str:
    return datetime.combine(day, time(hour, minute), tzinfo=UTC).isoformat()


def _attendees(*emails: str) -> str:
    return json.dumps([{"email": e, "name": "", "response": "accepted"} for e in emails])


def seed(db: sqlite3.Connection, week_start: date, *, user: str = "maya") -> None:
    """Fill an empty demo database for the week starting on `week_start` (a Monday); `user` owns the mailbox."""
    db.executescript(SCHEMA)
    if db.execute("SELECT 1 FROM meta WHERE key='seeded'").fetchone():
        return
    if user not in PEOPLE:
        raise ValueError(f"demo user must be one of {sorted(PEOPLE)}, not {user!r}")
    d = [week_start + timedelta(days=i) for i in range(12)]
    maya, leo, sam, priya = (PEOPLE[k][1] for k in ("maya", "leo", "sam", "priya"))
    events = [
        (
            "ev_acme",
            "Acme — expansion review",
            "Review the 50-seat expansion proposal.",
            _at(d[0], 10),
            _at(d[0], 11),
            "Zoom",
            maya,
            _attendees(maya, "ana.silva@acme.example"),
        ),
        (
            "ev_globex",
            "Globex — renewal negotiation",
            "Pricing and terms for the renewal.",
            _at(d[1], 14),
            _at(d[1], 15),
            "Zoom",
            maya,
            _attendees(maya, leo, "tom.reed@globex.example"),
        ),
        (
            "ev_globex_fu",
            "Globex — renewal follow-up",
            "Answer legal's questions.",
            _at(d[8], 14),
            _at(d[8], 14, 30),
            "Zoom",
            maya,
            _attendees(maya, "tom.reed@globex.example"),
        ),
        (
            "ev_initech",
            "Initech — pilot kickoff",
            "Kick off the 6-week pilot.",
            _at(d[2], 11),
            _at(d[2], 12),
            "Initech HQ",
            sam,
            _attendees(sam, maya, "bill@initech.example"),
        ),
        (
            "ev_pipeline",
            "Weekly pipeline review",
            "Internal.",
            _at(d[3], 9),
            _at(d[3], 10),
            "Room 2",
            maya,
            _attendees(maya, leo, priya),
        ),
        (
            "ev_umbrella",
            "Umbrella Health — QBR",
            "Quarterly business review.",
            _at(d[4], 15),
            _at(d[4], 16),
            "Zoom",
            leo,
            _attendees(leo, "kei.ito@umbrella.example"),
        ),
    ]
    db.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?,?)", events)
    db.executemany(
        "INSERT INTO contacts VALUES (?,?,?,?,?,?,?)",
        [(i, n, e, c, t, PEOPLE[o][1], tz) for i, n, e, c, t, o, tz in CONTACTS],
    )
    db.executemany("INSERT INTO staff VALUES (?,?,?,?)", [(e, n, t, STAFF_TZ) for n, e, t in PEOPLE.values()])
    db.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?,?)", _busy_next_weeks(d, maya, sam))
    db.executemany(
        "INSERT INTO deals VALUES (?,?,?,?,?,?,?,?)",
        [
            (i, n, s, a, (d[0] + timedelta(days=30)).isoformat(), co, json.dumps([c]), ns)
            for i, n, s, a, c, co, ns in DEALS
        ],
    )
    _seed_mail(db, d, maya)
    _seed_recordings(db, d)
    _seed_support(db, d, priya)
    db.execute("INSERT INTO meta VALUES ('seeded', ?)", (week_start.isoformat(),))
    db.execute("INSERT INTO meta VALUES ('version', ?)", (VERSION,))
    db.execute("INSERT INTO meta VALUES ('user', ?)", (PEOPLE[user][1],))
    db.commit()


def _busy_next_weeks(d: list[date], maya: str, sam: str) -> list[tuple[str, ...]]:
    """Internal meetings that take the first obvious follow-up slots, so picking a time needs free/busy."""
    later = [d[0] + timedelta(days=i) for i in range(7, 19)]
    return [
        (
            "ev_forecast",
            "Quarterly forecast",
            "Internal.",
            _at(later[0], 13),
            _at(later[0], 17),
            "Room 1",
            maya,
            _attendees(maya, PEOPLE["leo"][1]),
        ),
        (
            "ev_enablement",
            "Sales enablement",
            "Internal.",
            _at(later[9], 14),
            _at(later[9], 16),
            "Room 2",
            sam,
            _attendees(sam, maya),
        ),
    ]


def _seed_mail(db: sqlite3.Connection, d: list[date], maya: str) -> None:
    db.executemany(
        "INSERT INTO threads VALUES (?,?)",
        [
            ("th_acme", "Pricing for 50 seats"),
            ("th_globex", "Renewal terms"),
            ("th_initech", "Pilot logistics"),
        ],
    )
    db.executemany(
        "INSERT INTO messages VALUES (?,?,?,?,?,?)",
        [
            (
                "m1",
                "th_acme",
                "ana.silva@acme.example",
                json.dumps([maya]),
                _at(d[0], 12),
                "Thanks for today. Could you send the pricing for 50 seats, and the SSO add-on?",
            ),
            (
                "m2",
                "th_globex",
                "tom.reed@globex.example",
                json.dumps([maya]),
                _at(d[1], 16),
                "Legal has two questions on the DPA; can we cover them next Tuesday?",
            ),
            (
                "m3",
                "th_initech",
                "bill@initech.example",
                json.dumps([maya]),
                _at(d[2], 13),
                "Great kickoff. Please share the onboarding doc.",
            ),
        ],
    )


def _seed_recordings(db: sqlite3.Connection, d: list[date]) -> None:
    db.executemany(
        "INSERT INTO recordings VALUES (?,?,?,?,?)",
        [
            ("rec_acme", "Acme — expansion review", "ev_acme", _at(d[0], 10), json.dumps(["Maya Chen", "Ana Silva"])),
            (
                "rec_globex",
                "Globex — renewal negotiation",
                "ev_globex",
                _at(d[1], 14),
                json.dumps(["Maya Chen", "Leo Park", "Tom Reed"]),
            ),
            (
                "rec_initech",
                "Initech — pilot kickoff",
                "ev_initech",
                _at(d[2], 11),
                json.dumps(["Sam Ortiz", "Maya Chen", "Bill Lumbergh"]),
            ),
        ],
    )
    db.executemany(
        "INSERT INTO transcripts VALUES (?,?,?)",
        [
            (
                "rec_acme",
                "Ana: We want to roll out to all 50 analysts next quarter.\nMaya: I'll send pricing for 50 "
                "seats including the SSO add-on.\nAna: Let's regroup next week once finance has seen it.",
                json.dumps(["Send pricing for 50 seats incl. SSO add-on", "Meet again next week after finance review"]),
            ),
            (
                "rec_globex",
                "Tom: Legal has questions on the DPA.\nMaya: Let's take them next Tuesday.",
                json.dumps(["Answer DPA questions at next Tuesday's follow-up"]),
            ),
            (
                "rec_initech",
                "Bill: The pilot team is five people.\nSam: I'll share the onboarding doc and we check in "
                "in two weeks.",
                json.dumps(["Share onboarding doc", "Pilot check-in in two weeks"]),
            ),
        ],
    )


def _seed_support(db: sqlite3.Connection, d: list[date], priya: str) -> None:
    tickets = [
        ("101", "CSV export times out on large dashboards", "open", "high", "ana.silva@acme.example"),
        ("102", "Export to CSV fails after 60s", "open", "high", "tom.reed@globex.example"),
        ("103", "SSO login loops back to the sign-in page", "open", "urgent", "bill@initech.example"),
        ("104", "Dashboard is blank in Safari 18", "open", "normal", "kei.ito@umbrella.example"),
        ("105", "CSV export: 504 Gateway Timeout", "open", "high", "gavin@hooli.example"),
        ("106", "SSO: redirect loop with Okta", "pending", "high", "ana.silva@acme.example"),
        ("107", "How do I change my billing email?", "solved", "low", "tom.reed@globex.example"),
        ("108", "Feature request: dark mode", "open", "low", "bill@initech.example"),
    ]
    db.executemany(
        "INSERT INTO tickets VALUES (?,?,?,?,?,?,?)",
        [(i, s, st, p, r, f"{s}. Reported by {r}.", _at(d[0], 9)) for i, s, st, p, r in tickets],
    )
    db.executemany(
        "INSERT INTO chat VALUES (?,?,?,?,?)",
        [
            (
                "1700000001.000100",
                "#support",
                priya,
                "Three CSV export timeouts this week; is it the new query engine?",
                None,
            ),
            (
                "1700000002.000200",
                "#support",
                PEOPLE["sam"][1],
                "Likely. Export runs synchronously past 60s.",
                "1700000001.000100",
            ),
            ("1700000003.000300", "#sales", PEOPLE["maya"][1], "Acme wants pricing for 50 seats.", None),
        ],
    )
