"""Whose OAuth grant acts: per-user and per-org grants through the API, two users of org a and the users of org b.

The attacks: user a_member's own Google account used for a_admin's session; org b reading, removing or completing
org a's grants; a user completing another user's sign-in so their account is stored under the victim's name; a
member connecting the org's shared account. A scheduled session acts with the grant of who scheduled it. The
audit: the ledger and the audit log name the grant that executed an approved output and the reviewer who decided it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from grants_rig import ALLOWED, GrantsWorld, calendar_turns, make_world

from dexa.runtime.scheduler import run_due


@pytest.fixture
def world(tmp_path: Path) -> Iterator[GrantsWorld]:
    w = make_world(tmp_path)
    with w.calendar:
        yield w


def _calendar(world: GrantsWorld, c: Any, who: str = "a_admin") -> str:
    made = c.post("/integrations", json={"kind": "google_calendar", "name": "calendar"}, headers=world.rig.h(who))
    assert made.status_code == 201, made.text
    return made.json()["id"]


def _bearers(world: GrantsWorld, method: str = "GET") -> list[str]:
    return [h for m, h in world.seen if m == method]


def test_each_user_acts_with_their_own_grant_or_the_orgs_by_policy(world: GrantsWorld) -> None:
    with world.rig.client() as c:
        integ = _calendar(world, c)
        # A member's default is their own account; an admin's is the org's shared one.
        assert world.connect(c, "a_member", integ)["id"] == integ
        world.connect(c, "a_admin", integ)
        member_token, org_token = world.token_of(0), world.token_of(1)
        grants = c.get(f"/integrations/{integ}/grants", headers=world.rig.h("a_member")).json()
        assert {g["owner"] for g in grants["data"]} == {"org", "user:usr_a_member"}
        assert grants["grant_owner"] == "user:usr_a_member" and grants["policy"] == "user_first"
        # The admin sees the org's grant and their own (none): never the member's.
        admin_view = c.get(f"/integrations/{integ}/grants", headers=world.rig.h("a_admin")).json()
        assert [g["owner"] for g in admin_view["data"]] == ["org"] and admin_view["grant_owner"] == "org"

        world.run_session(c, "a_member", calendar_turns(), ALLOWED)
        assert _bearers(world) == [f"Bearer {member_token}"]
        world.run_session(c, "a_admin", calendar_turns(), ALLOWED)
        assert _bearers(world)[-1] == f"Bearer {org_token}"  # user_first falls back to the org's, not the member's

        # org_only: the member's session uses the org's grant although they connected their own.
        policy = c.put(f"/integrations/{integ}/grants", json={"policy": "org_only"}, headers=world.rig.h("a_admin"))
        assert policy.status_code == 200 and policy.json()["grant_owner"] == "org"
        world.run_session(c, "a_member", calendar_turns(), ALLOWED)
        assert _bearers(world)[-1] == f"Bearer {org_token}"

        # user_only: the admin, who has no grant of their own, gets no calendar at all (never the member's).
        c.put(f"/integrations/{integ}/grants", json={"policy": "user_only"}, headers=world.rig.h("a_admin"))
        before = len(world.seen)
        world.run_session(c, "a_admin", calendar_turns(), ALLOWED)
        assert len(world.seen) == before
        world.run_session(c, "a_member", calendar_turns(), ALLOWED)
        assert _bearers(world)[-1] == f"Bearer {member_token}"
        assert all(
            t.access_token not in c.get("/integrations", headers=world.rig.h("a_admin")).text
            for t in world.google.tokens
        )


def test_an_approved_output_runs_with_the_requesters_grant_and_the_audit_names_it(world: GrantsWorld) -> None:
    with world.rig.client() as c:
        integ = _calendar(world, c)
        world.connect(c, "a_admin", integ)
        world.connect(c, "a_member", integ, grant_for="me")
        org_token, member_token = world.token_of(0), world.token_of(1)
        session = world.run_session(c, "a_member", calendar_turns(create=True), ALLOWED)
        assert _bearers(world, "POST") == []  # the invite waits for a reviewer
        sid = session["id"]
        pending = c.get(f"/sessions/{sid}/pending-outputs", headers=world.rig.h("a_admin")).json()["data"]
        assert [o["status"] for o in pending] == ["pending"], pending
        assert pending[0]["context"]["requested_by"] == "usr_a_member"
        # The admin reviews with their own identity; the invite goes out from the member's own calendar.
        done = c.post(
            f"/sessions/{sid}/pending-outputs/{pending[0]['id']}/approve", json={}, headers=world.rig.h("a_admin")
        )
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "executed" and done.json()["decided_by"] == "usr_a_admin"
        assert _bearers(world, "POST") == [f"Bearer {member_token}"] and org_token != member_token

        ledger = asyncio.run(world.rig.runtime.integrations.queue.ledger("org_a"))
        entry = next(e for e in ledger if e["output_id"] == pending[0]["id"])
        assert entry["grant_owner"] == "user:usr_a_member" and entry["decided_by"] == "usr_a_admin"
        assert entry["requested_by"] == "usr_a_member"
        audit = c.get("/audit", headers=world.rig.h("a_admin")).json()["data"]
        approve = next(e for e in audit if e["action"] == "output.approve")
        assert approve["actor"] == "usr_a_admin" and approve["detail"]["grant_owner"] == "user:usr_a_member"
        connects = [e for e in audit if e["action"] == "integration.oauth.connect"]
        assert sorted(e["detail"]["grant_owner"] for e in connects) == ["org", "user:usr_a_member"]


def test_no_one_reaches_another_users_or_another_orgs_grant(world: GrantsWorld) -> None:
    rig = world.rig
    with rig.client() as c:
        integ = _calendar(world, c)
        # A member cannot connect (nor remove) the org's shared account.
        assert c.post(f"/integrations/{integ}/oauth/start?for=org", headers=rig.h("a_member")).status_code == 403
        # Another user of the org, and org b, cannot complete a_member's sign-in (their account as hers).
        start = c.post(f"/integrations/{integ}/oauth/start", headers=rig.h("a_member")).json()["authorize_url"]
        back = world.consent(start)
        for thief in ("a_admin", "b_admin", "b_member"):
            assert c.get("/oauth/callback", params=back, headers=rig.h(thief)).status_code == 404, thief
        assert c.get("/oauth/callback", params=back, headers=rig.h("a_member")).status_code == 200
        member_token = world.token_of(0)
        # A member completing an org sign-in an admin started is refused before the code is spent (the state
        # names the admin: anyone else signed in is 404).
        admin_start = c.post(f"/integrations/{integ}/oauth/start", headers=rig.h("a_admin")).json()["authorize_url"]
        admin_back = world.consent(admin_start)
        assert c.get("/oauth/callback", params=admin_back, headers=rig.h("a_member")).status_code == 404
        assert c.get("/oauth/callback", params=admin_back, headers=rig.h("a_admin")).status_code == 200

        # Org b: org a's integration and grants are not found, whatever the verb.
        for who in ("b_admin", "b_member"):
            assert c.get(f"/integrations/{integ}/grants", headers=rig.h(who)).status_code == 404
            assert c.delete(f"/integrations/{integ}/grants/me", headers=rig.h(who)).status_code == 404
            assert c.post(f"/integrations/{integ}/oauth/start?for=me", headers=rig.h(who)).status_code == 404
        assert c.delete(f"/integrations/{integ}/grants/org", headers=rig.h("b_admin")).status_code == 404
        assert (
            c.put(f"/integrations/{integ}/grants", json={"policy": "org_only"}, headers=rig.h("b_admin")).status_code
            == 404
        )
        # Org b's own calendar, unconnected: its sessions never get an org a token.
        b_integ = _calendar(world, c, "b_admin")
        assert c.get(f"/integrations/{b_integ}/grants", headers=rig.h("b_admin")).json()["data"] == []
        before = len(world.seen)
        for who in ("b_admin", "b_member"):
            world.run_session(c, who, calendar_turns(), ALLOWED)
        assert len(world.seen) == before

        # a_admin cannot remove a_member's grant (only their own, which they do not have, or the org's).
        assert c.delete(f"/integrations/{integ}/grants/me", headers=rig.h("a_admin")).status_code == 404
        assert c.delete(f"/integrations/{integ}/grants/org", headers=rig.h("a_member")).status_code == 403
        world.run_session(c, "a_member", calendar_turns(), ALLOWED)
        assert world.seen[-1][1] == f"Bearer {member_token}"
        # The member removes their own; their next session falls back to the org's grant.
        assert c.delete(f"/integrations/{integ}/grants/me", headers=rig.h("a_member")).status_code == 204
        world.run_session(c, "a_member", calendar_turns(), ALLOWED)
        assert world.seen[-1][1] == f"Bearer {world.token_of(1)}"


def test_a_scheduled_session_acts_with_the_grant_of_who_scheduled_it(world: GrantsWorld) -> None:
    rig = world.rig
    with rig.client() as c:
        integ = _calendar(world, c)
        world.connect(c, "a_admin", integ)  # the org's
        world.connect(c, "a_member", integ)  # the member's own
        world.connect(c, "a_admin", integ, grant_for="me")  # the admin's own
        admin_token = world.token_of(2)
        # Nobody watches a scheduled run: the org's user settings allow the calendar read outright.
        repo = str(rig.org_ws("a") / "repo")
        org_home = Path(rig.runtime.envs.for_org("org_a").home)
        (org_home / ".claude").mkdir(parents=True, exist_ok=True)
        (org_home / ".claude" / "settings.json").write_text(json.dumps({"permissions": {"allow": ALLOWED}}))
        script = rig.tmp / "scheduled.json"
        script.write_text(json.dumps({"turns": calendar_turns()}))
        made = c.post(
            "/schedules",
            json={"cron": "* * * * *", "prompt": "check my week", "model": f"scripted:{script}", "cwd": repo},
            headers=rig.h("a_admin"),
        )
        assert made.status_code == 201, made.text
        assert c.portal is not None
        (sid,) = c.portal.call(lambda: run_due(rig.runtime, ["org_a"]))
        session = world.wait(c, "a_admin", sid)
        assert session["status"] in ("idle", "completed"), session
        # The admin asked: their own grant, neither the org's nor the member's.
        assert world.seen == [("GET", f"Bearer {admin_token}")]
