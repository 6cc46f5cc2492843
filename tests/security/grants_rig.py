"""Per-user and per-org integration grants through the real `dexa serve` app (api_rig's two orgs, each with an admin
and a member), with Google's side played locally:

- Google's authorization server: the authlib server of the integrations suite, under Google's issuer, reached
  through the OAuth service's transport (the user's "browser" is sent to it instead of accounts.google.com);
- the Calendar API: a respx route that records the Authorization header of every request the managed provider
  sends, so a test sees exactly whose token each session and each approved output used.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import httpx2
import respx
from api_rig import Rig, make_rig

from dexa.integrations.oauth import ClientRegistration

# The local authorization server lives with the integrations suite.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functional" / "integrations"))
from fake_oauth_server import FakeAuthServer  # pyright: ignore[reportMissingImports]

GOOGLE = "https://accounts.google.com"
CALENDAR = "https://www.googleapis.com/calendar/v3/calendars/primary/events"
SCOPES = (
    "https://www.googleapis.com/auth/calendar.events",
    "https://www.googleapis.com/auth/calendar.events.freebusy",
)
USERS = {"a_admin": "usr_a_admin", "a_member": "usr_a_member", "b_admin": "usr_b_admin", "b_member": "usr_b_member"}


@dataclass
class GrantsWorld:
    rig: Rig
    google: FakeAuthServer
    calendar: respx.MockRouter
    # (method, Authorization header) of every Calendar API request, in order.
    seen: list[tuple[str, str]] = field(default_factory=list)

    def token_of(self, n: int) -> str:
        """The access token the authorization server issued n-th (0: the first connect)."""
        return self.google.tokens[n].access_token

    def connect(self, c: Any, who: str, integration_id: str, grant_for: str | None = None) -> dict[str, Any]:
        """`who` connects through the API as the web UI does: start, consent at "Google", land on the callback."""
        query = "" if grant_for is None else f"?for={grant_for}"
        start = c.post(f"/integrations/{integration_id}/oauth/start{query}", headers=self.rig.h(who))
        assert start.status_code == 200, start.text
        back = self.consent(start.json()["authorize_url"])
        done = c.get("/oauth/callback", params=back, headers=self.rig.h(who))
        assert done.status_code == 200, done.text
        return done.json()

    def consent(self, authorize_url: str) -> dict[str, str]:
        """The browser at Google: it approves and is sent back with code, state and iss."""
        assert authorize_url.startswith(f"{GOOGLE}/o/oauth2/v2/auth?"), authorize_url
        query = urlsplit(authorize_url).query

        async def go() -> httpx2.Response:
            async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=self.google.app())) as browser:
                return await browser.get(f"{GOOGLE}/authorize?{query}")

        answer = asyncio.run(go())
        assert answer.status_code == 302, answer.text
        return {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["location"]).query).items()}

    def run_session(self, c: Any, who: str, turns: list[dict[str, Any]], allowed: list[str]) -> dict[str, Any]:
        """A session `who` starts through the API with a scripted model; returns it once the turn is over."""
        script = self.rig.tmp / f"script-{who}-{time.monotonic_ns()}.json"
        script.write_text(json.dumps({"turns": turns}))
        made = c.post(
            "/sessions",
            json={"model": f"scripted:{script}", "prompt": "go", "allowed_tools": allowed},
            headers=self.rig.h(who),
        )
        assert made.status_code == 201, made.text
        return self.wait(c, who, made.json()["id"])

    def wait(self, c: Any, who: str, sid: str) -> dict[str, Any]:
        """The session once its turn is over."""
        deadline = time.monotonic() + 60
        got: dict[str, Any] = {}
        while time.monotonic() < deadline:
            got = c.get(f"/sessions/{sid}", headers=self.rig.h(who)).json()
            if got["status"] in ("idle", "completed", "failed"):
                return got
            time.sleep(0.05)
        raise AssertionError(f"session {sid} did not finish: {got}")


def calendar_turns(*, create: bool = False) -> list[dict[str, Any]]:
    """The agent loads the calendar, reads the week, and (`create`) invites Ana, which is staged."""
    calls: list[dict[str, Any]] = [
        {
            "name": "mcp__calendar__list_events",
            "input": {"time_min": "2030-01-07T00:00:00Z", "time_max": "2030-01-12T00:00:00Z"},
        }
    ]
    if create:
        calls.append(
            {
                "name": "mcp__calendar__create_event",
                "input": {
                    "summary": "Pricing call",
                    "start": "2030-01-08T10:00:00Z",
                    "end": "2030-01-08T10:30:00Z",
                    "attendees": ["ana.silva@acme.example"],
                },
            }
        )
    return [
        {"tool_uses": [{"name": "LoadSourceTools", "input": {"sources": ["calendar"]}}]},
        {"tool_uses": calls},
        {"text": "done"},
    ]


ALLOWED = ["LoadSourceTools", "mcp__calendar__list_events", "mcp__calendar__create_event"]


def make_world(tmp: Path) -> GrantsWorld:
    rig = make_rig(tmp, test_mode=True)
    google = FakeAuthServer(issuer=GOOGLE, scopes=SCOPES)
    integrations = rig.runtime.integrations
    oauth = integrations.oauth
    google.add_client("dexa-google", oauth.redirect_uri)
    asyncio.run(oauth.register_client(ClientRegistration(issuer=GOOGLE, client_id="dexa-google")))
    # The control plane's OAuth requests (code exchange, refresh) reach the local "Google".
    oauth.http_options["transport"] = httpx2.ASGITransport(app=google.app())
    calendar = respx.mock(assert_all_mocked=True, assert_all_called=False)
    world = GrantsWorld(rig=rig, google=google, calendar=calendar)

    def answer(request: httpx.Request) -> httpx.Response:
        world.seen.append((request.method, request.headers.get("authorization", "")))
        if request.method == "POST":
            body = json.loads(request.content)
            return httpx.Response(200, json={"id": "ev_1", **body, "organizer": {"email": "me@acme.example"}})
        return httpx.Response(200, json={"items": []})

    calendar.route(url__startswith=CALENDAR).mock(side_effect=answer)
    return world
