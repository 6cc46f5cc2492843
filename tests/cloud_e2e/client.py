"""A plain HTTP client of the deployed API, as a user's program would write one (httpx, no dexa imports).

Events are followed as EventSource does: one streamed GET that stays open (the stack's event-stream function pushes
each event as it is written), reconnecting with Last-Event-ID when the server ends the stream. Model deltas that
reach the stream live (not from the log) are flagged `live`; they carry the last logged seq as their id, so they are
kept apart (`ApiClient.live`) from the log's events, whose ids are contiguous.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Event:
    id: int
    type: str
    data: dict[str, Any]
    received: float = 0.0  # time.time() when the client read it
    live: bool = False


@dataclass
class ApiClient:
    base_url: str
    token: str
    gateway_key: str | None = None
    http: httpx.Client = field(init=False)
    live: list[Event] = field(init=False, default_factory=list[Event])
    connected: threading.Event = field(init=False, default_factory=threading.Event)  # a stream's first frame arrived

    def __post_init__(self) -> None:
        headers = {"authorization": f"Bearer {self.token}"}
        if self.gateway_key:
            headers["x-api-key"] = self.gateway_key
        self.http = httpx.Client(base_url=self.base_url, headers=headers, timeout=35)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, path, **kwargs)

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise AssertionError(f"{method} {path} -> {response.status_code}: {response.text[:2000]}")
        return response.json()

    def create_session(self, prompt: str, **body: Any) -> dict[str, Any]:
        return self.ok("POST", "/sessions", json={"prompt": prompt, **body})

    def session(self, session_id: str) -> dict[str, Any]:
        return self.ok("GET", f"/sessions/{session_id}")

    def events_page(self, session_id: str, after: int) -> tuple[list[Event], bool]:
        """One buffered SSE response from `after`: its events, and whether the stream said `end`."""
        response = self.request(
            "GET",
            f"/sessions/{session_id}/events",
            headers={"accept": "text/event-stream", "last-event-id": str(after)},
        )
        if response.status_code != 200:
            raise AssertionError(f"events -> {response.status_code}: {response.text[:1000]}")
        events, ended = parse_sse(response.text)
        return events, ended

    def watch(self, session_id: str, *, until: str | None = None, after: int = 0, timeout: float = 90) -> list[Event]:
        """Follow the SSE endpoint as EventSource does (reconnect with Last-Event-ID) until `until` or `end`."""
        seen: list[Event] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got_any = False
            for event in self.stream(session_id, after, deadline=deadline):
                if event.type == "end":
                    if until is None:
                        return seen
                    continue
                if event.live:
                    self.live.append(event)
                    continue
                got_any = True
                seen.append(event)
                after = max(after, event.id)
                if until is not None and event.type == until:
                    return seen
            if not got_any:
                time.sleep(0.2)
        raise AssertionError(f"no {until or 'end'} event within {timeout}s; saw {[e.type for e in seen]}")

    def stream(self, session_id: str, after: int, *, deadline: float) -> Iterator[Event]:
        """One SSE connection from `after`: its events as they arrive, until the server ends it, the connection
        fails or goes quiet past the read timeout (the caller reconnects, as EventSource does), or the deadline."""
        timeout = httpx.Timeout(35, read=max(1.0, min(120.0, deadline - time.monotonic())))
        headers = {"accept": "text/event-stream", "last-event-id": str(after)}
        try:
            with self.http.stream(
                "GET", f"/sessions/{session_id}/events", headers=headers, timeout=timeout
            ) as response:
                if response.status_code != 200:
                    response.read()
                    raise AssertionError(f"events -> {response.status_code}: {response.text[:1000]}")
                fields: dict[str, str] = {}
                for line in response.iter_lines():
                    if line:
                        if not line.startswith(":"):
                            key, _, value = line.partition(":")
                            fields[key] = fields.get(key, "") + value.removeprefix(" ")
                        continue
                    self.connected.set()  # the server promises every live delta written after its first frame
                    event = to_event(fields, time.time())
                    fields = {}
                    if event is not None:
                        yield event
                    if time.monotonic() > deadline:
                        return
        except (httpx.ReadTimeout, httpx.ReadError, httpx.RemoteProtocolError):
            return


def to_event(fields: dict[str, str], received: float) -> Event | None:
    if fields.get("event") == "end":
        return Event(id=-1, type="end", data={}, received=received)
    if "data" not in fields or "id" not in fields:
        return None
    try:
        data = json.loads(fields["data"])
    except json.JSONDecodeError:
        data = {"raw": fields["data"]}
    live = isinstance(data, dict) and data.get("live") is True  # pyright: ignore[reportUnknownMemberType]
    return Event(id=int(fields["id"]), type=fields.get("event", "message"), data=data, received=received, live=live)


def parse_sse(text: str) -> tuple[list[Event], bool]:
    events: list[Event] = []
    ended = False
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            key, _, value = line.partition(":")
            fields[key] = fields.get(key, "") + value.removeprefix(" ")
        if fields.get("event") == "end":
            ended = True
            continue
        if "data" not in fields or "id" not in fields:
            continue
        try:
            data = json.loads(fields["data"])
        except json.JSONDecodeError:
            data = {"raw": fields["data"]}
        events.append(Event(id=int(fields["id"]), type=fields.get("event", "message"), data=data))
    return events, ended
