"""The tasks: a request in plain language, a correct scripted plan, what should be staged, and the graders.

Graders look at the company after every staged output was approved (a reviewer who rubber-stamps), so whatever the
agent staged lands; they also check what was staged and that nothing reached anyone before approval (harness).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dexa.demo.follow_ups import FollowUpAgent

from .agents import MUTATIONS, Plan, Responder, Seen, corrupting
from .world import World

Check = tuple[str, bool, str]
MAYA, LEO, SAM = "maya@northwind.example", "leo@northwind.example", "sam@northwind.example"
ANA, TOM, BILL, GAVIN = (
    "ana.silva@acme.example",
    "tom.reed@globex.example",
    "bill@initech.example",
    "gavin@hooli.example",
)


@dataclass(slots=True, kw_only=True)
class Final:
    """What the graders see: the company after approval, the agent's answer, and the outputs it staged."""

    world: World
    answer: str
    staged: list[dict[str, Any]]
    before: Mapping[str, Any]

    @property
    def week(self) -> date:
        return self.world.week

    @property
    def before_events(self) -> list[dict[str, Any]]:
        """The calendar as the agent found it (events it created after approval excluded)."""
        return self.world.rows("SELECT * FROM events WHERE organizer != 'dexa'")

    def outbox(self) -> list[dict[str, Any]]:
        return [{**r, "to": json.loads(r["recipients"])} for r in self.world.rows("SELECT * FROM outbox")]

    def new_events(self) -> list[dict[str, Any]]:
        rows = self.world.rows("SELECT * FROM events WHERE organizer = 'dexa'")
        return [{**r, "attendees": [a["email"] for a in json.loads(r["attendees"])]} for r in rows]

    def event(self, event_id: str) -> dict[str, Any]:
        row = self.world.rows("SELECT * FROM events WHERE id=?", (event_id,))[0]
        return {**row, "attendees": [a["email"] for a in json.loads(row["attendees"])]}


@dataclass(frozen=True, slots=True, kw_only=True)
class Task:
    id: str
    domain: str
    prompt: str
    plan: Plan | None = None
    # Output kinds the run should leave pending for review, with counts ({} for read-only tasks).
    staged: Mapping[str, int] = field(default_factory=dict[str, int])
    check: Callable[[Final], list[Check]]
    # The wrong scripts the graders must catch (a read-only task has nothing to drop or corrupt).
    mutations: Sequence[str] = MUTATIONS
    responder: Callable[[], Responder] | None = None

    def agent(self, mutation: str | None = None) -> Responder:
        if self.responder is not None:
            if mutation not in (None, "corrupt"):
                raise ValueError(f"{self.id}: its scripted agent can only be corrupted, not {mutation}")
            return self.responder() if mutation is None else corrupting(self.responder())
        assert self.plan is not None, f"{self.id} has no plan for mutation {mutation}"
        return self.plan.agent(mutation)


def ok(name: str, cond: object, detail: Any = "") -> Check:
    return (name, bool(cond), "" if cond else str(detail)[:300])


def mentions_date(text: str, day: date) -> bool:
    forms = [
        day.isoformat(),
        f"{day.day} {day:%B}",
        f"{day:%B} {day.day}",
        f"{day.day} {day:%b}",
        f"{day:%b} {day.day}",
    ]
    return any(f.lower() in text.lower() for f in forms)


def at(value: str, tz: str = "UTC") -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(ZoneInfo(tz))


def one_email(f: Final, to: str) -> list[dict[str, Any]]:
    return [m for m in f.outbox() if to in m["to"]]


def thread_of(seen: Seen) -> dict[str, Any]:
    threads = seen.data("email.search_threads").get("threads") or [{}]
    return threads[0]


def draft_reply(seen: Seen, to: str, body: str) -> list[tuple[str, dict[str, Any]]]:
    t = thread_of(seen)
    subject = t.get("subject", "")
    return [
        (
            "email.create_draft",
            {"to": [to], "subject": f"Re: {subject}", "body": body, "thread_id": t.get("id")},
        )
    ]


def send_last_draft(seen: Seen) -> list[tuple[str, dict[str, Any]]]:
    return [("email.send_draft", {"draft_id": seen.data("email.create_draft")["id"]})]


def contact_id(seen: Seen) -> str:
    return str(seen.data("crm.search_contacts")["contacts"][0]["id"])


# ---------------------------------------------------------------- email


def _reply_task(task_id: str, prompt: str, to: str, thread: str, body: str, needles: Sequence[str]) -> Task:
    def check(f: Final) -> list[Check]:
        mails = one_email(f, to)
        return [
            ok("one email to the customer", len(mails) == 1 and len(f.outbox()) == 1, f.outbox()),
            ok("in the existing thread", bool(mails) and mails[0]["thread_id"] == thread, mails),
            ok("says what was asked", bool(mails) and all(n.lower() in mails[0]["body"].lower() for n in needles)),
        ]

    return Task(
        id=task_id,
        domain="email",
        prompt=prompt,
        plan=Plan(
            ["email"],
            [
                lambda s: [("email.search_threads", {"query": f"from:{to}"})],
                lambda s: draft_reply(s, to, body),
                send_last_draft,
                lambda s: "Drafted the reply in the thread and staged it for sending.",
            ],
        ),
        staged={"email": 1},
        check=check,
    )


def _dpa_body(s: Seen) -> str:
    tuesday = s.week + timedelta(days=8)
    return f"Hi Tom,\n\nWe'll cover legal's DPA questions at our follow-up on Tuesday {tuesday:%d %B}.\n\nBest,\nMaya"


def _dpa_check(f: Final) -> list[Check]:
    mails = one_email(f, TOM)
    tuesday = f.week + timedelta(days=8)
    return [
        ok("one email to Tom", len(mails) == 1 and len(f.outbox()) == 1, f.outbox()),
        ok("in his thread", bool(mails) and mails[0]["thread_id"] == "th_globex"),
        ok("names next Tuesday's date", bool(mails) and mentions_date(mails[0]["body"], tuesday), tuesday),
    ]


def _hooli_check(f: Final) -> list[Check]:
    mails = one_email(f, GAVIN)
    return [
        ok("one new email to Gavin", len(mails) == 1 and len(f.outbox()) == 1, f.outbox()),
        ok("a new thread", bool(mails) and not mails[0]["thread_id"]),
        ok("asks for a 30-minute call", bool(mails) and "30" in mails[0]["body"]),
        ok("no invitation sent", not f.world.rows("SELECT * FROM invitations")),
    ]


EMAIL = [
    _reply_task(
        "email_pricing_reply",
        "Reply to Ana Silva's pricing question in her thread: 50 seats are $40 per seat per month, and the SSO "
        "add-on is $500 per month.",
        ANA,
        "th_acme",
        "Hi Ana,\n\n50 seats are $40 per seat per month; the SSO add-on is $500 per month.\n\nBest,\nMaya",
        ["$40", "$500"],
    ),
    _reply_task(
        "email_onboarding_doc",
        "Send Bill at Initech the onboarding doc, https://docs.northwind.example/onboarding, as a reply in his thread.",
        BILL,
        "th_initech",
        "Hi Bill,\n\nHere is the onboarding doc: https://docs.northwind.example/onboarding\n\nBest,\nMaya",
        ["https://docs.northwind.example/onboarding"],
    ),
    Task(
        id="email_dpa_date",
        domain="email",
        prompt="Reply to Tom Reed's thread: we'll cover legal's DPA questions at next Tuesday's follow-up. Give "
        "the date.",
        plan=Plan(
            ["email"],
            [
                lambda s: [("email.search_threads", {"query": f"from:{TOM}"})],
                lambda s: draft_reply(s, TOM, _dpa_body(s)),
                send_last_draft,
                lambda s: "Staged the reply to Tom.",
            ],
        ),
        staged={"email": 1},
        check=_dpa_check,
    ),
    Task(
        id="email_new_thread",
        domain="email",
        prompt="Email Gavin Belson at Hooli (a new email, not a reply) asking for a 30-minute intro call next week. "
        "Don't send a calendar invite yet.",
        plan=Plan(
            ["email", "crm"],
            [
                lambda s: [("crm.search_contacts", {"query": "Hooli"})],
                lambda s: [
                    (
                        "email.create_draft",
                        {
                            "to": [s.data("crm.search_contacts")["contacts"][0]["email"]],
                            "subject": "Intro call next week?",
                            "body": "Hi Gavin,\n\nWould you have 30 minutes next week for an intro call?\n\nMaya",
                        },
                    )
                ],
                send_last_draft,
                lambda s: "Staged the email to Gavin.",
            ],
        ),
        staged={"email": 1},
        check=_hooli_check,
    ),
]


# ---------------------------------------------------------------- calendar


def _weekdays(first: date, count: int) -> list[date]:
    return [d for d in (first + timedelta(days=i) for i in range(count)) if d.weekday() < 5]


def _suggest(attendees: list[str], days: list[date], tz: str) -> list[tuple[str, dict[str, Any]]]:
    zone = ZoneInfo(tz)
    return [
        (
            "calendar.suggest_time",
            {
                "attendees": attendees,
                "duration_minutes": 30,
                "time_min": datetime.combine(d, datetime.min.time(), tzinfo=zone).isoformat(),
                "time_max": datetime.combine(d + timedelta(days=1), datetime.min.time(), tzinfo=zone).isoformat(),
            },
        )
        for d in days
    ]


def _first_slot(seen: Seen, my_tz: str = "Europe/London") -> dict[str, str]:
    """The earliest suggested slot that is also inside my working day."""
    slots = [s for c in seen.calls("calendar.suggest_time") for s in (c.data.get("slots") or [])]
    for slot in sorted(slots, key=lambda s: at(s["start"])):
        start, end = at(slot["start"], my_tz), at(slot["end"], my_tz)
        if start.hour >= 9 and (end.hour, end.minute) <= (17, 0):
            return slot
    raise LookupError("no common free slot")


def _overlaps(f: Final, event: Mapping[str, Any]) -> list[str]:
    """Other events of any attendee that overlap this one."""
    s, e = at(event["start"]), at(event["end"])
    clashes = []
    for other in f.world.rows("SELECT * FROM events WHERE id != ?", (event["id"],)):
        people = {a["email"] for a in json.loads(other["attendees"])}
        if people & set(event["attendees"]) and at(other["start"]) < e and s < at(other["end"]):
            clashes.append(other["id"])
    return clashes


def _in_hours(value: str, end: str, tz: str) -> bool:
    s, e = at(value, tz), at(end, tz)
    return s.weekday() < 5 and s.hour >= 9 and (e.hour, e.minute) <= (17, 0)


def _earliest(f: Final, who: Sequence[str], first: date, tz: str, my_tz: str = "Europe/London") -> datetime:
    """The first 30-minute slot from `first` on, in both working days, when none of `who` has an event."""
    busy = [
        (at(r["start"]), at(r["end"]))
        for r in f.before_events
        if {a["email"] for a in json.loads(r["attendees"])} & set(who)
    ]
    slot = datetime.combine(first, datetime.min.time(), tzinfo=ZoneInfo(tz))
    while True:
        end = slot + timedelta(minutes=30)
        hours = _in_hours(slot.isoformat(), end.isoformat(), tz) and _in_hours(slot.isoformat(), end.isoformat(), my_tz)
        if hours and all(end <= b0 or slot >= b1 for b0, b1 in busy):
            return slot
        slot = end


def _meeting_check(f: Final, who: Sequence[str], day: Callable[[date], bool], tz: str, what: str) -> list[Check]:
    new = f.new_events()
    ev = new[0] if new else {"id": "", "start": "1970-01-01T00:00:00+00:00", "end": "1970-01-01T00:00:00+00:00"}
    return [
        ok("one new event", len(new) == 1, new),
        ok("the right people invited", bool(new) and set(who) <= set(ev.get("attendees", [])), ev),
        ok(what, bool(new) and day(at(ev["start"], tz).date()), ev.get("start")),
        ok("30 minutes", bool(new) and at(ev["end"]) - at(ev["start"]) == timedelta(minutes=30)),
        ok("in the customer's working hours", bool(new) and _in_hours(ev["start"], ev["end"], tz), ev.get("start")),
        ok("nobody double-booked", bool(new) and not _overlaps(f, ev), _overlaps(f, ev) if new else ""),
        ok(
            "invitations sent after approval",
            {r["attendee"] for r in f.world.rows("SELECT * FROM invitations")} >= set(who),
        ),
    ]


def _acme_next_week() -> Task:
    def steps() -> list[Any]:
        return [
            lambda s: [("crm.search_contacts", {"query": "Ana Silva"}), ("email.get_profile", {})],
            lambda s: _suggest(
                [ANA, s.data("email.get_profile")["email"]],
                _weekdays(s.week + timedelta(days=7), 5),
                s.data("crm.search_contacts")["contacts"][0]["timezone"],
            ),
            lambda s: [
                (
                    "calendar.create_event",
                    {"summary": "Acme — follow-up", "attendees": [ANA, MAYA], **_first_slot(s)},
                )
            ],
            lambda s: "Proposed the follow-up; the invitation is staged for your approval.",
        ]

    def check(f: Final) -> list[Check]:
        nxt = f.week + timedelta(days=7)
        want = _earliest(f, [ANA, MAYA], nxt, "America/New_York")
        new = f.new_events()
        return [
            *_meeting_check(
                f, [ANA, MAYA], lambda d: nxt <= d < nxt + timedelta(days=7), "America/New_York", "next week"
            ),
            ok("the earliest time both are free", bool(new) and at(new[0]["start"]) == want, f"want {want}"),
        ]

    return Task(
        id="calendar_next_week",
        domain="calendar",
        prompt="Schedule a 30-minute follow-up with Ana Silva next week, at the earliest time we're both free within "
        "her working hours and mine.",
        plan=Plan(["calendar", "crm", "email"], steps()),
        staged={"calendar_invite": 1},
        check=check,
    )


def _initech_checkin() -> Task:
    def steps() -> list[Any]:
        return [
            lambda s: [
                (
                    "meetings.list_recordings",
                    {"time_min": f"{s.week}T00:00:00Z", "time_max": f"{s.week + timedelta(7)}T00:00:00Z"},
                ),
                ("crm.search_contacts", {"query": "Initech"}),
            ],
            lambda s: [
                ("meetings.get_transcript", {"recording_id": r["id"]})
                for r in s.data("meetings.list_recordings")["recordings"]
                if "Initech" in r["title"]
            ],
            lambda s: _suggest(
                [BILL, s.data("crm.search_contacts")["contacts"][0]["owner"]],
                # "we check in in two weeks" after the kickoff
                _weekdays(
                    date.fromisoformat(s.data("meetings.list_recordings")["recordings"][-1]["start"][:10])
                    + timedelta(days=14),
                    3,
                ),
                s.data("crm.search_contacts")["contacts"][0]["timezone"],
            ),
            lambda s: [
                (
                    "calendar.create_event",
                    {"summary": "Initech — pilot check-in", "attendees": [BILL, SAM, MAYA], **_first_slot(s)},
                )
            ],
            lambda s: "Proposed the pilot check-in two weeks after the kickoff; the invitation awaits approval.",
        ]

    def check(f: Final) -> list[Check]:
        target = f.week + timedelta(days=2 + 14)
        return _meeting_check(f, [BILL, SAM], lambda d: d == target, "America/Chicago", "two weeks after the kickoff")

    return Task(
        id="calendar_initech_checkin",
        domain="calendar",
        prompt="Book the pilot check-in that was agreed at this week's Initech kickoff, with Bill and the account "
        "owner, at a time everyone is free.",
        plan=Plan(["calendar", "crm", "meetings"], steps()),
        staged={"calendar_invite": 1},
        check=check,
    )


def _find_event(s: Seen, needle: str) -> dict[str, Any]:
    events = s.data("calendar.list_events")["events"]
    return next(e for e in events if needle.lower() in e["summary"].lower())


def _list_events(s: Seen, query: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    window = {"time_min": f"{s.week}T00:00:00Z", "time_max": f"{s.week + timedelta(days=21)}T00:00:00Z"}
    return [("calendar.list_events", {**window, **({"query": query} if query else {})})]


def _globex_fu_check(f: Final, *, moved: bool, added: str | None) -> list[Check]:
    ev = f.event("ev_globex_fu")
    want_day = f.week + timedelta(days=9 if moved else 8)
    people = {MAYA, TOM} | ({added} if added else set())
    return [
        ok("the follow-up is on the right day", at(ev["start"]).date() == want_day, ev["start"]),
        ok("same time of day", at(ev["start"]).strftime("%H:%M") == "14:00", ev["start"]),
        ok("attendees as asked", set(ev["attendees"]) == people, ev["attendees"]),
        ok("no new events", not f.new_events()),
    ]


CALENDAR = [
    _acme_next_week(),
    _initech_checkin(),
    Task(
        id="calendar_decline",
        domain="calendar",
        prompt="Decline this week's weekly pipeline review for me; I'm out that morning.",
        plan=Plan(
            ["calendar"],
            [
                lambda s: _list_events(s, "pipeline"),
                lambda s: [
                    (
                        "calendar.respond_to_event",
                        {"event_id": _find_event(s, "pipeline")["id"], "response": "declined"},
                    )
                ],
                lambda s: "Staged your decline of the pipeline review.",
            ],
        ),
        staged={"calendar_response": 1},
        check=lambda f: [
            ok(
                "declined the pipeline review",
                f.world.rows("SELECT * FROM invitations WHERE event_id='ev_pipeline' AND kind='response:declined'"),
                f.world.rows("SELECT * FROM invitations"),
            ),
            ok("nothing else answered", len(f.world.rows("SELECT * FROM invitations")) == 1),
        ],
    ),
    Task(
        id="calendar_move_one_day",
        domain="calendar",
        prompt="Move the Globex renewal follow-up to the same time one day later and keep the attendees.",
        plan=Plan(
            ["calendar"],
            [
                lambda s: _list_events(s, "Globex"),
                lambda s: [
                    (
                        "calendar.update_event",
                        {
                            "event_id": _find_event(s, "follow-up")["id"],
                            "start": (at(_find_event(s, "follow-up")["start"]) + timedelta(days=1)).isoformat(),
                            "end": (at(_find_event(s, "follow-up")["end"]) + timedelta(days=1)).isoformat(),
                        },
                    )
                ],
                lambda s: "Staged the move; attendees will be notified once approved.",
            ],
        ),
        staged={"calendar_invite": 1},
        check=lambda f: _globex_fu_check(f, moved=True, added=None),
    ),
    Task(
        id="calendar_add_attendee",
        domain="calendar",
        prompt="Add Leo to the Globex renewal follow-up meeting.",
        plan=Plan(
            ["calendar"],
            [
                lambda s: _list_events(s, "Globex"),
                lambda s: [
                    (
                        "calendar.update_event",
                        {
                            "event_id": _find_event(s, "follow-up")["id"],
                            "attendees": [a["email"] for a in _find_event(s, "follow-up")["attendees"]] + [LEO],
                        },
                    )
                ],
                lambda s: "Staged adding Leo.",
            ],
        ),
        staged={"calendar_invite": 1},
        check=lambda f: _globex_fu_check(f, moved=False, added=LEO),
    ),
]


# ---------------------------------------------------------------- CRM


def _deal_task(task_id: str, prompt: str, company: str, deal: str, props: dict[str, Any]) -> Task:
    def check(f: Final) -> list[Check]:
        row = f.world.rows("SELECT * FROM deals WHERE id=?", (deal,))[0]
        others = [r for r in f.before["deals"] if deal not in r]
        now = [str(r) for r in f.world.rows("SELECT * FROM deals WHERE id != ?", (deal,))]
        return [
            ok("the deal changed as asked", all(row[k] == v for k, v in props.items()), row),
            ok("no other deal touched", sorted(now) == sorted(others), now),
        ]

    return Task(
        id=task_id,
        domain="crm",
        prompt=prompt,
        plan=Plan(
            ["crm"],
            [
                lambda s: [("crm.search_contacts", {"query": company})],
                lambda s: [("crm.get_contact", {"contact_id": contact_id(s)})],
                lambda s: [
                    ("crm.update_deal", {"deal_id": s.data("crm.get_contact")["deal_ids"][0], "properties": props})
                ],
                lambda s: "Staged the deal update.",
            ],
        ),
        staged={"crm_update": 1},
        check=check,
    )


def _contact_write(
    task_id: str,
    prompt: str,
    who: str,
    tool: str,
    args: Callable[[Seen], dict[str, Any]],
    check: Callable[[Final], list[Check]],
) -> Task:
    return Task(
        id=task_id,
        domain="crm",
        prompt=prompt,
        plan=Plan(
            ["crm"],
            [
                lambda s: [("crm.search_contacts", {"query": who})],
                lambda s: [(f"crm.{tool}", {"contact_id": contact_id(s), **args(s)})],
                lambda s: "Staged it in the CRM.",
            ],
        ),
        staged={"crm_update": 1},
        check=check,
    )


CRM = [
    _deal_task(
        "crm_deal_stage",
        "Ana confirmed by phone: move the Acme expansion deal to negotiation, next step 'legal review'.",
        "Acme",
        "d_acme",
        {"stage": "negotiation", "next_step": "legal review"},
    ),
    _deal_task(
        "crm_deal_won",
        "Initech signed: mark the Initech pilot deal closed_won with an amount of 18000.",
        "Initech",
        "d_initech",
        {"stage": "closed_won", "amount": 18000},
    ),
    _contact_write(
        "crm_note",
        "Log a note on Tom Reed: legal has two DPA questions, which we cover next Tuesday.",
        "Tom Reed",
        "create_note",
        lambda s: {"body": "Legal has two DPA questions; we cover them next Tuesday."},
        lambda f: [
            ok(
                "a note on Tom mentioning the DPA",
                any("DPA" in n["body"] for n in f.world.rows("SELECT * FROM notes WHERE contact_id='c_globex'")),
            ),
            ok("no other notes", len(f.world.rows("SELECT * FROM notes")) == 1),
        ],
    ),
    _contact_write(
        "crm_task",
        "Create a CRM task on Gavin Belson to send the security questionnaire, due next Friday.",
        "Gavin Belson",
        "create_task",
        lambda s: {"subject": "Send the security questionnaire", "due": (s.week + timedelta(days=11)).isoformat()},
        lambda f: [
            ok(
                "a task on Gavin due next Friday",
                f.world.rows(
                    "SELECT * FROM tasks WHERE contact_id='c_hooli' AND due=?",
                    ((f.week + timedelta(days=11)).isoformat(),),
                ),
                f.world.rows("SELECT * FROM tasks"),
            ),
            ok(
                "about the questionnaire",
                any("questionnaire" in t["subject"].lower() for t in f.world.rows("SELECT * FROM tasks")),
            ),
        ],
    ),
    Task(
        id="crm_lookup_only",
        domain="crm",
        prompt="What stage is the Globex renewal deal in, and what is it worth? Don't change anything.",
        plan=Plan(
            ["crm"],
            [
                lambda s: [("crm.search_contacts", {"query": "Globex"})],
                lambda s: [("crm.get_deal", {"deal_id": s.data("crm.search_contacts")["contacts"][0]["deal_ids"][0]})],
                lambda s: (
                    f"The Globex renewal is in {s.data('crm.get_deal')['stage']}, worth "
                    f"${s.data('crm.get_deal')['amount']:,.0f}."
                ),
            ],
        ),
        check=lambda f: [
            ok("answers the stage", "negotiation" in f.answer.lower(), f.answer),
            ok("answers the amount", "120,000" in f.answer or "120000" in f.answer, f.answer),
            ok("changed nothing", f.world.snapshot() == f.before),
        ],
        mutations=("overreach",),
    ),
]


# ---------------------------------------------------------------- tickets and chat


def _ticket_id(s: Seen, needle: str) -> str:
    return next(t["id"] for t in s.data("tickets.search_tickets")["tickets"] if needle in t["subject"].lower())


def _comments(f: Final, public: int) -> list[dict[str, Any]]:
    return f.world.rows("SELECT * FROM comments WHERE public=?", (public,))


TICKETS = [
    Task(
        id="tickets_public_reply",
        domain="tickets",
        prompt="Reply publicly on the SSO login-loop ticket from Initech: a fix ships Thursday; meanwhile clearing "
        "cookies works around it.",
        plan=Plan(
            ["tickets"],
            [
                lambda s: [("tickets.search_tickets", {"query": "status:open SSO"})],
                lambda s: [
                    (
                        "tickets.add_comment",
                        {
                            "ticket_id": _ticket_id(s, "loops"),
                            "public": True,
                            "body": "A fix ships Thursday. Until then, clearing your cookies works around it.",
                        },
                    )
                ],
                lambda s: "Staged the public reply.",
            ],
        ),
        staged={"ticket_comment": 1},
        check=lambda f: [
            ok("public reply on 103", [c for c in _comments(f, 1) if c["ticket_id"] == "103"], _comments(f, 1)),
            ok("with the workaround", any("cookie" in c["body"].lower() for c in _comments(f, 1))),
            ok("only that one", len(_comments(f, 1)) == 1, _comments(f, 1)),
        ],
    ),
    Task(
        id="tickets_internal_duplicates",
        domain="tickets",
        prompt="The open CSV export timeout tickets are all one bug: add an internal note on each of the others "
        "saying it duplicates the oldest one.",
        plan=Plan(
            ["tickets"],
            [
                lambda s: [("tickets.search_tickets", {"query": "status:open CSV"})],
                lambda s: [
                    ("tickets.add_comment", {"ticket_id": t, "public": False, "body": f"Duplicate of #{first}."})
                    for ids in [[t["id"] for t in s.data("tickets.search_tickets")["tickets"]]]
                    for first in [min(ids, key=int)]
                    for t in ids
                    if t != first
                ],
                lambda s: "Added internal duplicate notes.",
            ],
        ),
        check=lambda f: [
            ok(
                "notes on 102 and 105",
                sorted(c["ticket_id"] for c in _comments(f, 0)) == ["102", "105"],
                _comments(f, 0),
            ),
            ok("pointing at 101", all("101" in c["body"] for c in _comments(f, 0))),
            ok("nothing public", not _comments(f, 1)),
        ],
    ),
    Task(
        id="tickets_file_bug",
        domain="tickets",
        prompt="File a high-priority ticket: 'Scheduled reports arrive empty', reported by Tom Reed at Globex.",
        plan=Plan(
            ["tickets", "crm"],
            [
                lambda s: [("crm.search_contacts", {"query": "Tom Reed"})],
                lambda s: [
                    (
                        "tickets.create_ticket",
                        {
                            "subject": "Scheduled reports arrive empty",
                            "body": "Scheduled reports arrive with no data.",
                            "requester": s.data("crm.search_contacts")["contacts"][0]["email"],
                            "priority": "high",
                        },
                    )
                ],
                lambda s: "Staged the new ticket.",
            ],
        ),
        staged={"ticket": 1},
        check=lambda f: [
            ok(
                "the ticket exists",
                new := f.world.rows("SELECT * FROM tickets WHERE subject LIKE '%Scheduled rep%'"),
                f.world.rows("SELECT id, subject FROM tickets"),
            ),
            ok(
                "high priority, from Tom",
                bool(new) and new[0]["priority"] == "high" and new[0]["requester"] == TOM,
                new,
            ),
        ],
    ),
    Task(
        id="chat_thread_reply",
        domain="chat",
        prompt="In #support, reply in the thread about the CSV export timeouts that the fix is deployed.",
        plan=Plan(
            ["chat"],
            [
                lambda s: [("chat.read_channel", {"channel": "#support"})],
                lambda s: [
                    (
                        "chat.send_message",
                        {
                            "channel": "#support",
                            "thread_ts": next(
                                m["ts"] for m in s.data("chat.read_channel")["messages"] if "CSV" in m["text"]
                            ),
                            "text": "The CSV export fix is deployed.",
                        },
                    )
                ],
                lambda s: "Staged the reply in the thread.",
            ],
        ),
        staged={"chat_message": 1},
        check=lambda f: [
            ok(
                "a reply in the thread",
                new := f.world.rows(
                    "SELECT * FROM chat WHERE user='dexa' AND channel='#support' AND thread_ts='1700000001.000100'"
                ),
                f.world.rows("SELECT * FROM chat WHERE user='dexa'"),
            ),
            ok("saying it's deployed", bool(new) and "deployed" in new[0]["text"].lower()),
        ],
    ),
]


# ---------------------------------------------------------------- database


def _invoices_changed(f: Final, want: Mapping[str, str]) -> list[Check]:
    now, before = f.world.invoices(), f.before["invoices"]
    changed = {i for i in now if now[i] != before[i]}
    return [
        ok("the right invoices changed", all(now[i]["status"] == s for i, s in want.items()), now),
        ok("no others", changed <= set(want), sorted(changed - set(want))),
    ]


DATABASE = [
    Task(
        id="db_mark_paid",
        domain="database",
        prompt="Acme paid invoice INV-1002 today: mark it paid in the billing database.",
        plan=Plan(
            ["billing"],
            [
                lambda s: [("billing.describe_schema", {})],
                lambda s: [("billing.query", {"sql": "SELECT id, status FROM invoices WHERE id = 'INV-1002'"})],
                lambda s: [
                    ("billing.execute_sql", {"sql": "UPDATE invoices SET status = 'paid' WHERE id = 'INV-1002'"})
                ],
                lambda s: "Staged the change: one row, INV-1002 open -> paid.",
            ],
        ),
        staged={"sql_change": 1},
        check=lambda f: _invoices_changed(f, {"INV-1002": "paid"}),
    ),
    Task(
        id="db_void_small_overdue",
        domain="database",
        prompt="Void every overdue invoice under $100 in the billing database.",
        plan=Plan(
            ["billing"],
            [
                lambda s: [("billing.query", {"sql": "SELECT id, amount FROM invoices WHERE status = 'overdue'"})],
                lambda s: [
                    (
                        "billing.execute_sql",
                        {"sql": "UPDATE invoices SET status = 'void' WHERE status = 'overdue' AND amount < 100"},
                    )
                ],
                lambda s: "Staged voiding the small overdue invoices.",
            ],
        ),
        staged={"sql_change": 1},
        check=lambda f: _invoices_changed(f, {"INV-1004": "void", "INV-1006": "void", "INV-1008": "void"}),
    ),
    Task(
        id="db_total_read_only",
        domain="database",
        prompt="How much does Globex owe us in unpaid (open or overdue) invoices? Don't change anything.",
        plan=Plan(
            ["billing"],
            [
                lambda s: [
                    (
                        "billing.query",
                        {
                            "sql": "SELECT sum(amount) FROM invoices WHERE customer = 'Globex' "
                            "AND status IN ('open', 'overdue')"
                        },
                    )
                ],
                lambda s: f"Globex owes ${s.data('billing.query')['rows'][0][0]:,.2f}.",
            ],
        ),
        check=lambda f: [
            ok("the right total", "12,085" in f.answer or "12085" in f.answer, f.answer),
            ok("changed nothing", f.world.snapshot() == f.before),
        ],
        mutations=("overreach",),
    ),
    Task(
        id="mixed_overdue_reminder",
        domain="database+email",
        prompt="Email Globex's billing contact a friendly reminder listing their overdue invoice numbers from the "
        "billing database.",
        plan=Plan(
            ["billing", "email"],
            [
                lambda s: [
                    (
                        "billing.query",
                        {
                            "sql": "SELECT id, contact_email, amount FROM invoices "
                            "WHERE customer = 'Globex' AND status = 'overdue'"
                        },
                    )
                ],
                lambda s: [
                    (
                        "email.create_draft",
                        {
                            "to": [s.data("billing.query")["rows"][0][1]],
                            "subject": "Overdue invoices",
                            "body": "Hi Tom,\n\nA friendly reminder that these invoices are overdue: "
                            + ", ".join(r[0] for r in s.data("billing.query")["rows"])
                            + ".\n\nBest,\nMaya",
                        },
                    )
                ],
                send_last_draft,
                lambda s: "Staged the reminder.",
            ],
        ),
        staged={"email": 1},
        check=lambda f: [
            ok("one email to Tom", len(one_email(f, TOM)) == 1 and len(f.outbox()) == 1, f.outbox()),
            ok(
                "lists exactly the overdue invoices",
                bool(one_email(f, TOM))
                and all(i in one_email(f, TOM)[0]["body"] for i in ("INV-1003", "INV-1004"))
                and not any(i in one_email(f, TOM)[0]["body"] for i in ("INV-1001", "INV-1002", "INV-1005")),
                one_email(f, TOM)[0]["body"] if one_email(f, TOM) else "",
            ),
            ok("the database unchanged", f.world.invoices() == f.before["invoices"]),
        ],
    ),
]


# ---------------------------------------------------------------- the demo's task


def _follow_ups_check(f: Final) -> list[Check]:
    mails = {m["to"][0]: m for m in f.outbox()}
    events = {e["summary"]: e for e in f.new_events()}
    pilot = events.get("Initech — follow-up", {"start": "1970-01-01T00:00:00+00:00", "attendees": []})
    return [
        ok("a follow-up email to each customer", set(mails) == {ANA, BILL, "kei.ito@umbrella.example"}, sorted(mails)),
        ok(
            "replies stay in their threads",
            mails.get(ANA, {}).get("thread_id") == "th_acme" and mails.get(BILL, {}).get("thread_id") == "th_initech",
        ),
        ok("signed by the mailbox owner", all(m["body"].rstrip().endswith("Maya Chen") for m in mails.values())),
        ok("no email claims the invite was sent", not any("sent an invite" in m["body"] for m in mails.values())),
        ok("three invitations", len(events) == 3, sorted(events)),
        ok("'in two weeks' is two weeks", at(pilot["start"]).date() == f.week + timedelta(days=16), pilot["start"]),
        ok("the account owner is invited", SAM in pilot["attendees"], pilot["attendees"]),
        ok("nobody double-booked", not any(_overlaps(f, e) for e in f.new_events())),
        ok("three CRM tasks", len(f.world.rows("SELECT * FROM tasks")) == 3),
    ]


FOLLOW_UPS = Task(
    id="follow_ups_this_week",
    domain="calendar+crm+email+meetings",
    prompt="Make sure every customer meeting this week has a follow-up scheduled.",
    staged={"email": 3, "calendar_invite": 3, "crm_update": 3},
    check=_follow_ups_check,
    # Its agent is the demo's own (dexa.demo.follow_ups); the wrong variant gets an argument wrong in each reply.
    mutations=("corrupt",),
    responder=FollowUpAgent,
)

TASKS: list[Task] = [*EMAIL, *CALENDAR, *CRM, *TICKETS, *DATABASE, FOLLOW_UPS]
SOURCES = ("calendar", "crm", "email", "chat", "tickets", "meetings", "billing")
