"""Managed calendar server (Google Calendar / Outlook / demo behind one schema)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from dexa.core.errors import DexaError
from dexa.integrations.providers.base import AvailabilityUnknownError, CalendarProvider

from .base import DESTRUCTIVE_WRITE, EXTERNAL_WRITE, READ, Mode, call, guard, new_server


def _dt(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ToolError(f"not an ISO 8601 date-time: {value!r}") from exc
    if parsed.tzinfo is None:
        raise ToolError(f"date-time needs a timezone offset (e.g. Z or +02:00): {value!r}")
    return parsed


def free_slots(
    busy: dict[str, list[tuple[str, str]]],
    *,
    time_min: str,
    time_max: str,
    minutes: int,
    day_start: int = 9,
    day_end: int = 17,
    limit: int = 5,
) -> list[dict[str, str]]:
    """The first slots of `minutes` inside working hours (in time_min's offset) where nobody is busy."""
    start, end = _dt(time_min), _dt(time_max)
    blocks = [(_dt(a), _dt(b)) for spans in busy.values() for a, b in spans]
    step = timedelta(minutes=30)
    length = timedelta(minutes=minutes)
    slot = start.replace(minute=0 if start.minute == 0 else 30, second=0, microsecond=0)
    if slot < start:
        slot += step
    out: list[dict[str, str]] = []
    while slot + length <= end and len(out) < limit:
        finish = slot + length
        in_hours = slot.weekday() < 5 and slot.hour >= day_start and (finish.hour, finish.minute) <= (day_end, 0)
        if in_hours and all(finish <= b0 or slot >= b1 for b0, b1 in blocks):
            out.append({"start": slot.isoformat(), "end": finish.isoformat()})
        slot += step
    return out


def build_calendar_server(provider: CalendarProvider, *, mode: Mode = "agent") -> MCPServer:
    mcp = new_server(
        "calendar",
        "Calendar: events, free time, invitations. Creating or changing events that "
        "invite people is staged for a human to approve.",
    )

    @mcp.tool(annotations=READ)
    async def list_events(time_min: str, time_max: str, query: str | None = None) -> dict[str, Any]:
        """List events between two ISO 8601 times, optionally matching text."""
        _dt(time_min)
        _dt(time_max)
        return {"events": await call(lambda: provider.list_events(time_min=time_min, time_max=time_max, query=query))}

    @mcp.tool(annotations=READ)
    async def get_event(event_id: str) -> dict[str, Any]:
        """One event with attendees and their responses."""
        return await call(lambda: provider.get_event(event_id))

    @mcp.tool(annotations=READ)
    async def suggest_time(attendees: list[str], duration_minutes: int, time_min: str, time_max: str) -> dict[str, Any]:
        """Free slots (working hours) when all attendees are available."""
        if not 5 <= duration_minutes <= 480:
            raise ToolError("duration_minutes must be between 5 and 480")
        try:
            busy = await provider.busy(attendees, time_min=time_min, time_max=time_max)
        except AvailabilityUnknownError as exc:
            # An unreadable calendar is not a free one: suggest nothing rather than double-book someone.
            return {
                "slots": [],
                "availability_unknown": [{"email": e, "reason": r} for e, r in exc.unknown.items()],
                "note": "no slot suggested: these attendees' availability could not be read; ask them, "
                "or suggest times without them",
            }
        except DexaError as exc:
            raise ToolError(str(exc)) from exc
        return {"slots": free_slots(busy, time_min=time_min, time_max=time_max, minutes=duration_minutes)}

    @mcp.tool(annotations=EXTERNAL_WRITE)
    async def create_event(
        summary: str,
        start: str,
        end: str,
        attendees: list[str] | None = None,
        description: str = "",
        location: str = "",
    ) -> dict[str, Any]:
        """Create an event and invite attendees (staged for approval)."""
        args = {"summary": summary, "start": start, "end": end, "attendees": attendees or []}
        guard("calendar", mode, "create_event", args)
        if _dt(end) <= _dt(start):
            raise ToolError("end must be after start")
        event = {**args, "description": description, "location": location}
        return await call(lambda: provider.create_event(event, send_updates=True))

    @mcp.tool(annotations=DESTRUCTIVE_WRITE)
    async def update_event(
        event_id: str,
        summary: str | None = None,
        start: str | None = None,
        end: str | None = None,
        attendees: list[str] | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        """Change an event; attendees are notified (staged for approval)."""
        patch = {
            k: v
            for k, v in {
                "summary": summary,
                "start": start,
                "end": end,
                "attendees": attendees,
                "description": description,
            }.items()
            if v is not None
        }
        guard("calendar", mode, "update_event", {"event_id": event_id, **patch})
        return await call(lambda: provider.update_event(event_id, patch, send_updates=True))

    @mcp.tool(annotations=EXTERNAL_WRITE)
    async def respond_to_event(event_id: str, response: Literal["accepted", "declined", "tentative"]) -> dict[str, Any]:
        """Accept, decline or tentatively accept an invitation (staged for approval)."""
        guard("calendar", mode, "respond_to_event", {"event_id": event_id, "response": response})
        return await call(lambda: provider.respond_to_event(event_id, response))

    return mcp
