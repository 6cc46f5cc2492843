"""The scripted agent of the business demo: "make sure every customer meeting this week has a follow-up scheduled".

It plays the model behind the loopback Messages API. Each reply is worked out from the request alone, as a model's
would be: today's date from the system prompt, and the calendar, CRM, transcript, mailbox and free/busy results the
runtime returned for its earlier calls. Nothing is precomputed, so a different company gives different drafts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dexa.testing.history import ToolCall, declared_tools, results, today, tool_calls
from dexa.testing.script import Turn
from dexa.testing.scripted import reply, text, tool_use

SOURCES = ["calendar", "crm", "email", "meetings"]
HORIZON_DAYS = 28
WORK_HOURS = (9, 17)


@dataclass(slots=True)
class Meeting:
    """A customer meeting of this week with no follow-up yet, and what the agent has learnt about it."""

    event: dict[str, Any]
    customers: list[str]
    recording: str | None
    contact: dict[str, Any] = field(default_factory=dict[str, Any])
    transcript: dict[str, Any] = field(default_factory=dict[str, Any])
    thread: dict[str, Any] | None = None
    slot: dict[str, str] | None = None

    @property
    def title(self) -> str:
        return str(self.event["summary"]).split("—")[0].strip()

    @property
    def customer(self) -> str:
        return self.customers[0]


def _iso(day: date, tz: ZoneInfo, hour: int = 0) -> str:
    return datetime.combine(day, time(hour), tzinfo=tz).isoformat()


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class FollowUpAgent:
    """`FollowUpAgent()(request_body) -> Turn | None`: one reply of the scripted model (a `Script.responder`)."""

    def __call__(self, body: Mapping[str, Any]) -> Turn | None:
        calls = tool_calls(body)
        failed = [c for c in calls if c.is_error]
        if failed:
            return text(f"I stopped: {failed[-1].name} failed ({failed[-1].result[:200]}). Nothing was sent.")
        if "LoadSourceTools" in declared_tools(body) and not results(body, "LoadSourceTools"):
            return reply(
                "I'll need the calendar, the CRM, email and the meeting recorder; loading them.",
                tool_use("LoadSourceTools", {"sources": SOURCES}),
            )
        week = today(body) - timedelta(days=today(body).weekday())
        if not results(body, "mcp__calendar__list_events"):
            return reply(
                "Checking whose mailbox this is, this week's meetings, what is already booked after them, and the "
                "recordings.",
                tool_use("mcp__email__get_profile"),
                tool_use(
                    "mcp__calendar__list_events",
                    {"time_min": f"{week}T00:00:00Z", "time_max": f"{week + timedelta(days=HORIZON_DAYS)}T00:00:00Z"},
                ),
                tool_use(
                    "mcp__meetings__list_recordings",
                    {"time_min": f"{week}T00:00:00Z", "time_max": f"{week + timedelta(days=7)}T00:00:00Z"},
                ),
            )
        me = results(body, "mcp__email__get_profile")[0].data
        todo = _missing_follow_ups(body, week, domain=str(me["email"]).split("@")[1])
        if not todo:
            return text("Every customer meeting this week already has a follow-up scheduled. Nothing to do.")
        if not results(body, "mcp__crm__search_contacts"):
            return _look_up(todo)
        _learn(body, todo)
        if not results(body, "mcp__calendar__suggest_time"):
            return _find_times(todo, me)
        _pick_slots(body, todo, me)
        if not results(body, "mcp__email__create_draft"):
            return _propose(todo, me)
        drafts = [c.data for c in results(body, "mcp__email__create_draft")]
        if not results(body, "mcp__email__send_draft"):
            return reply(
                "Drafts written. Sending them needs your approval, so I'm staging the sends.",
                *[tool_use("mcp__email__send_draft", {"draft_id": d["id"]}) for d in drafts],
            )
        staged = sum(1 for c in tool_calls(body) if c.staged)
        lines = [
            f"- {m.title}: {_local(m.slot, m.contact)} with {', '.join(_attendees(m, me))}" for m in todo if m.slot
        ]
        return text(
            f"{len(todo)} customer meeting(s) this week had no follow-up. I staged {staged} item(s) for your review "
            "(the reply emails, the calendar invitations and the CRM tasks); nothing has been sent yet.\n"
            + "\n".join(lines)
        )


def _missing_follow_ups(body: Mapping[str, Any], week: date, *, domain: str) -> list[Meeting]:
    events: list[dict[str, Any]] = results(body, "mcp__calendar__list_events")[0].data.get("events", [])
    recordings = next((c.data.get("recordings", []) for c in results(body, "mcp__meetings__list_recordings")), [])
    end = week + timedelta(days=7)
    todo: list[Meeting] = []
    for event in events:
        if not week.isoformat() <= event["start"][:10] < end.isoformat():
            continue
        external = [a["email"] for a in event["attendees"] if not a["email"].endswith("@" + domain)]
        if not external:
            continue
        later = [
            e
            for e in events
            if _when(e["start"]) >= _when(event["end"]) and any(a["email"] in external for a in e["attendees"])
        ]
        if later:
            continue
        recording = next((r["id"] for r in recordings if r.get("event_id") == event["id"]), None)
        todo.append(Meeting(event=event, customers=external, recording=recording))
    return todo


def _look_up(todo: list[Meeting]) -> Turn:
    uses = [tool_use("mcp__crm__search_contacts", {"query": m.customer}) for m in todo]
    uses += [tool_use("mcp__meetings__get_transcript", {"recording_id": m.recording}) for m in todo if m.recording]
    uses += [tool_use("mcp__email__search_threads", {"query": f"from:{m.customer}"}) for m in todo]
    names = ", ".join(str(m.event["summary"]) for m in todo)
    return reply(
        f"{len(todo)} customer meeting(s) have nothing booked after them: {names}. Looking up the contacts, what was "
        "agreed, and any open email threads.",
        *uses,
    )


def _learn(body: Mapping[str, Any], todo: list[Meeting]) -> None:
    contacts = {c["email"]: c for call in results(body, "mcp__crm__search_contacts") for c in _list(call, "contacts")}
    transcripts = {c.data.get("recording_id"): c.data for c in results(body, "mcp__meetings__get_transcript")}
    threads = {c.input["query"][5:]: _list(c, "threads") for c in results(body, "mcp__email__search_threads")}
    for m in todo:
        m.contact = contacts.get(m.customer, {"email": m.customer, "name": m.customer})
        m.transcript = transcripts.get(m.recording, {}) if m.recording else {}
        m.thread = next(iter(threads.get(m.customer, [])), None)


def _list(call: ToolCall, key: str) -> list[dict[str, Any]]:
    value = call.data.get(key, []) if isinstance(call.data, dict) else []
    return [v for v in value if isinstance(v, dict)]


def _window(m: Meeting) -> tuple[date, date]:
    """When the follow-up should be, from what was agreed: "in two weeks" is two weeks after the meeting."""
    held = date.fromisoformat(m.event["start"][:10])
    agreed = " ".join([*m.transcript.get("action_items", []), m.transcript.get("text", "")]).lower()
    weeks = re.search(r"in (two|three|four|2|3|4) weeks", agreed)
    if weeks:
        n = {"two": 2, "three": 3, "four": 4}.get(weeks.group(1)) or int(weeks.group(1))
        day = held + timedelta(weeks=n)
        return day, day + timedelta(days=3)
    monday = held - timedelta(days=held.weekday()) + timedelta(days=7)
    return monday, monday + timedelta(days=5)


def _zone(doc: Mapping[str, Any]) -> ZoneInfo:
    return ZoneInfo(str(doc.get("timezone") or "UTC"))


def _attendees(m: Meeting, me: Mapping[str, Any]) -> list[str]:
    people = [*m.customers, str(m.contact.get("owner") or ""), str(me["email"])]
    return list(dict.fromkeys(p for p in people if p))


def _find_times(todo: list[Meeting], me: Mapping[str, Any]) -> Turn:
    uses: list[Turn] = []
    for m in todo:
        first, last = _window(m)
        tz = _zone(m.contact)
        days = [first + timedelta(days=i) for i in range((last - first).days)]
        # One day per call: suggestions come earliest first, and a day's first ones may fall outside my hours.
        for day in (d for d in days if d.weekday() < 5):
            uses.append(
                tool_use(
                    "mcp__calendar__suggest_time",
                    {
                        "attendees": _attendees(m, me),
                        "duration_minutes": 30,
                        # In the customer's zone: the suggested slots are in their working hours.
                        "time_min": _iso(day, tz),
                        "time_max": _iso(day + timedelta(days=1), tz),
                    },
                )
            )
    return reply("Finding times when everyone is free, in each customer's working hours.", *uses)


def _pick_slots(body: Mapping[str, Any], todo: list[Meeting], me: Mapping[str, Any]) -> None:
    mine = _zone(me)
    for m in todo:
        calls = [c for c in results(body, "mcp__calendar__suggest_time") if m.customer in c.input["attendees"]]
        slots = [s for c in calls for s in _list(c, "slots")]
        for slot in sorted(slots, key=lambda s: _when(s["start"])):
            start, end = _when(slot["start"]).astimezone(mine), _when(slot["end"]).astimezone(mine)
            # Also inside my own working day.
            if start.hour >= WORK_HOURS[0] and (end.hour, end.minute) <= (WORK_HOURS[1], 0):
                m.slot = slot
                break


def _local(slot: Mapping[str, str] | None, person: Mapping[str, Any]) -> str:
    if slot is None:
        return "no common free time"
    start = _when(slot["start"]).astimezone(_zone(person))
    end = _when(slot["end"]).astimezone(_zone(person))
    return f"{start:%A} {start.day} {start:%B}, {start:%H:%M}–{end:%H:%M} {start.tzname()}"


def _propose(todo: list[Meeting], me: Mapping[str, Any]) -> Turn:
    uses: list[Turn] = []
    for m in todo:
        if m.slot is None:
            continue
        uses.append(tool_use("mcp__email__create_draft", _email(m, me)))
        uses.append(
            tool_use(
                "mcp__calendar__create_event",
                {
                    "summary": f"{m.title} — follow-up",
                    "start": m.slot["start"],
                    "end": m.slot["end"],
                    "attendees": _attendees(m, me),
                    "description": "Follow-up to " + str(m.event["summary"]) + ".\n" + _bullets(m),
                },
            )
        )
        if m.contact.get("id"):
            day = _when(m.slot["start"]).astimezone(_zone(m.contact)).date()
            uses.append(
                tool_use(
                    "mcp__crm__create_task",
                    {
                        "contact_id": m.contact["id"],
                        "subject": f"Follow-up with {m.contact.get('name')} ({m.title})",
                        "due": day.isoformat(),
                    },
                )
            )
    skipped = [m.title for m in todo if m.slot is None]
    note = f" No common free time for {', '.join(skipped)}; I'll leave those to you." if skipped else ""
    return reply(
        "Drafting replies in the existing threads, proposing the invitations and adding CRM tasks." + note, *uses
    )


def _bullets(m: Meeting) -> str:
    return "\n".join(f"- {a}" for a in m.transcript.get("action_items", [])) or "- Recap of what we discussed"


def _first_name(contact: Mapping[str, Any]) -> str:
    words = [w for w in str(contact.get("name") or "").split() if not w.endswith(".")]
    return words[0] if words else "there"


def _email(m: Meeting, me: Mapping[str, Any]) -> dict[str, Any]:
    held = date.fromisoformat(m.event["start"][:10])
    others = [a for a in _attendees(m, me) if a not in m.customers and a != me["email"]]
    joining = f", with {', '.join(others)} joining" if others else ""
    body = (
        f"Hi {_first_name(m.contact)},\n\n"
        f"Thank you for your time on {held:%A}. As agreed, the next steps:\n{_bullets(m)}\n\n"
        f"For our follow-up I'd suggest {_local(m.slot, m.contact)}{joining}. "
        "You'll get a calendar invitation for it separately; if the time doesn't suit, just reply here.\n\n"
        f"Best regards,\n{me.get('name') or me['email']}"
    )
    draft: dict[str, Any] = {"to": m.customers, "body": body}
    if m.thread is not None:
        subject = str(m.thread.get("subject") or "")
        draft |= {"thread_id": m.thread["id"], "subject": subject if subject.startswith("Re:") else f"Re: {subject}"}
    else:
        draft["subject"] = f"Follow-up: {m.event['summary']}"
    return draft
