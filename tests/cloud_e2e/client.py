"""A plain HTTP client of the deployed API, as a user's program would write one (httpx, no dexa imports)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Event:
    id: int
    type: str
    data: dict[str, Any]


@dataclass
class ApiClient:
    base_url: str
    token: str
    gateway_key: str | None = None
    http: httpx.Client = field(init=False)

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
            events, ended = self.events_page(session_id, after)
            for event in events:
                seen.append(event)
                after = max(after, event.id)
                if until is not None and event.type == until:
                    return seen
            if ended and until is None:
                return seen
            if not events:
                time.sleep(0.2)
        raise AssertionError(f"no {until or 'end'} event within {timeout}s; saw {[e.type for e in seen]}")


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
