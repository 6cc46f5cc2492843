"""Provider interfaces behind the managed MCP servers: one small Protocol per domain.

Shapes are plain dicts in one normalised form across vendors (Google and Outlook events look the same), so
prompts and staged-output previews do not depend on which provider an org connected.

    event    {id, summary, description, start, end, location, organizer, attendees: [{email, name, response}]}
    thread   {id, subject, snippet, messages: [{id, from, to, date, body}]}
    draft    {id, from, to: [..], cc: [..], subject, body, thread_id}
    profile  {email, name?, timezone?}   the mailbox owner: who drafts are sent as
    contact  {id, name, email, company, title, owner, deal_ids}
    deal     {id, name, stage, amount, close_date, contact_ids, company}
    message  {ts, channel, user, text, thread_ts}
    ticket   {id, subject, status, priority, requester, description, comments: [{author, body, public}]}
    recording{id, title, event_id, start, participants}
"""

from __future__ import annotations

from typing import Any, Protocol

from dexa.core.errors import ToolError

Doc = dict[str, Any]


class AvailabilityUnknownError(ToolError):
    """Free/busy could not be read for some calendars (not shared, not found, the vendor failed).

    Never read as "free": a slot suggested over an unreadable calendar would double-book a person.
    """

    code = "availability_unknown"

    def __init__(self, unknown: dict[str, str], known: dict[str, list[tuple[str, str]]]) -> None:
        self.unknown = unknown
        self.known = known
        reasons = "; ".join(f"{who}: {why}" for who, why in unknown.items())
        super().__init__(f"availability unknown for {reasons}")


class CalendarProvider(Protocol):
    async def list_events(self, *, time_min: str, time_max: str, query: str | None = None) -> list[Doc]: ...

    async def get_event(self, event_id: str) -> Doc: ...

    async def busy(self, emails: list[str], *, time_min: str, time_max: str) -> dict[str, list[tuple[str, str]]]:
        """Busy spans per email. Raises AvailabilityUnknownError when any calendar could not be read."""
        ...

    async def create_event(self, event: Doc, *, send_updates: bool) -> Doc: ...

    async def update_event(self, event_id: str, patch: Doc, *, send_updates: bool) -> Doc: ...

    async def respond_to_event(self, event_id: str, response: str) -> Doc: ...


class EmailProvider(Protocol):
    async def profile(self) -> Doc: ...

    async def search_threads(self, query: str, *, max_results: int = 20) -> list[Doc]: ...

    async def get_thread(self, thread_id: str) -> Doc: ...

    async def create_draft(
        self, *, to: list[str], subject: str, body: str, cc: list[str] | None = None, thread_id: str | None = None
    ) -> Doc: ...

    async def get_draft(self, draft_id: str) -> Doc: ...

    async def send_draft(self, draft_id: str) -> Doc: ...


class CrmProvider(Protocol):
    async def search_contacts(self, query: str, *, limit: int = 20) -> list[Doc]: ...

    async def get_contact(self, contact_id: str) -> Doc: ...

    async def get_deal(self, deal_id: str) -> Doc: ...

    async def update_deal(self, deal_id: str, properties: Doc) -> Doc: ...

    async def create_note(self, contact_id: str, body: str) -> Doc: ...

    async def create_task(self, contact_id: str, subject: str, due: str | None = None) -> Doc: ...


class ChatProvider(Protocol):
    async def read_channel(self, channel: str, *, limit: int = 50) -> list[Doc]: ...

    async def read_thread(self, channel: str, thread_ts: str) -> list[Doc]: ...

    async def send_message(self, channel: str, text: str, *, thread_ts: str | None = None) -> Doc: ...


class TicketsProvider(Protocol):
    async def search_tickets(self, query: str, *, limit: int = 25) -> list[Doc]: ...

    async def get_ticket(self, ticket_id: str) -> Doc: ...

    async def create_ticket(
        self, *, subject: str, body: str, requester: str | None = None, priority: str | None = None
    ) -> Doc: ...

    async def add_comment(self, ticket_id: str, body: str, *, public: bool) -> Doc: ...


class MeetingsProvider(Protocol):
    async def list_recordings(self, *, time_min: str, time_max: str) -> list[Doc]: ...

    async def get_transcript(self, recording_id: str) -> Doc: ...
