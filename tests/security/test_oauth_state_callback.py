"""The OAuth callback authenticated by its state alone: the provider's redirect is a cross-site navigation, so a
browser's SameSite=Strict cookie never comes with it (and behind API Gateway the authorizer would refuse a request
without one). The signed, single-use state stored with the pending sign-in names who started it; the grant lands
with that user, once. Attacks: a replayed state, a state with its signature bent or moved onto another nonce, a
state completed while signed in as someone else, a user disabled between start and callback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from grants_rig import GrantsWorld, make_world


@pytest.fixture
def world(tmp_path: Path) -> Iterator[GrantsWorld]:
    w = make_world(tmp_path)
    with w.calendar:
        yield w


def _start(world: GrantsWorld, c: Any, who: str, integration_id: str, grant_for: str = "me") -> dict[str, str]:
    start = c.post(f"/integrations/{integration_id}/oauth/start?for={grant_for}", headers=world.rig.h(who))
    assert start.status_code == 200, start.text
    return world.consent(start.json()["authorize_url"])


def test_the_state_alone_completes_the_sign_in_for_who_started_it_once(world: GrantsWorld) -> None:
    rig = world.rig
    with rig.client() as c:
        made = c.post("/integrations", json={"kind": "google_calendar", "name": "cal"}, headers=rig.h("a_admin"))
        integ = made.json()["id"]
        back = _start(world, c, "a_member", integ)
        assert "." in back["state"]  # <nonce>.<signature>

        # No cookie, no key: a browser coming back from the provider.
        browser = c.get("/oauth/callback", params=back, headers={"accept": "text/html"}, follow_redirects=False)
        assert browser.status_code == 303, browser.text
        assert browser.headers["location"] == f"/ui/integrations?connected={integ}"
        grants = c.get(f"/integrations/{integ}/grants", headers=rig.h("a_member")).json()
        assert grants["grant_owner"] == "user:usr_a_member", grants  # her sessions now use her own account
        audit = c.get("/audit", headers=rig.h("a_admin")).json()["data"]
        (connect,) = [e for e in audit if e["action"] == "integration.oauth.connect"]
        assert connect["actor"] == "usr_a_member"  # the state's user, though nobody was signed in

        # Spent: the same redirect again is refused, as JSON or as a page.
        again = c.get("/oauth/callback", params=back)
        assert again.status_code == 404 and again.json()["code"] == "not_found", again.text


def test_a_bent_or_moved_signature_and_someone_elses_session_are_refused_without_spending(
    world: GrantsWorld,
) -> None:
    rig = world.rig
    with rig.client() as c:
        integ = c.post(
            "/integrations", json={"kind": "google_calendar", "name": "cal"}, headers=rig.h("a_admin")
        ).json()["id"]
        back = _start(world, c, "a_member", integ)
        nonce, _, mac = back["state"].partition(".")
        other = _start(world, c, "a_admin", integ, grant_for="org")
        other_nonce, _, other_mac = other["state"].partition(".")
        for forged in (nonce, f"{nonce}.{mac[:-2]}AA", f"{nonce}.{other_mac}", f"{other_nonce}.{mac}", "x" * 40):
            answer = c.get("/oauth/callback", params={**back, "state": forged})
            assert answer.status_code == 404, (forged, answer.text)
        # Signed in as another user (or another org's): not theirs to finish.
        for thief in ("a_admin", "b_admin"):
            assert c.get("/oauth/callback", params=back, headers=rig.h(thief)).status_code == 404, thief
        # None of that spent it: the member's own redirect still completes, and an org grant needs an admin.
        assert c.get("/oauth/callback", params=back).status_code == 200
        assert c.get("/oauth/callback", params=other).status_code == 200


def test_a_user_disabled_after_starting_cannot_complete(world: GrantsWorld) -> None:
    rig = world.rig
    with rig.client() as c:
        integ = c.post(
            "/integrations", json={"kind": "google_calendar", "name": "cal"}, headers=rig.h("a_admin")
        ).json()["id"]
        back = _start(world, c, "a_member", integ)
        asyncio.run(_disable(rig.runtime.store, "org_a", "usr_a_member"))
        refused = c.get("/oauth/callback", params=back)
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden", refused.text


async def _disable(store: Any, org_id: str, user_id: str) -> None:
    """What an admin's user removal leaves behind: the record, disabled (there is no API for it yet)."""
    from dexa.auth.service import USERS, AuthService

    user = await AuthService(store).get_user(org_id, user_id)
    await store.kv_put(USERS, user_id, {**user.to_dict(), "disabled": True}, org_id=org_id)
