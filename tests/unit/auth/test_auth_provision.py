"""Provisioning and browser sessions over an in-memory store: bootstrap finishing an interrupted run, session keys
expiring and ending at sign-out."""

from __future__ import annotations

import asyncio
import time

import pytest

from dexa.auth.browser import close_session, open_session
from dexa.auth.gateway import GatewayKey, load_gateway_key
from dexa.auth.provision import BOOTSTRAP, INSTALLATION, bootstrap
from dexa.auth.service import AuthService
from dexa.core.errors import PermissionDeniedError, StorageError
from dexa.testing.fakes import MemoryKV


class FlakyGateway:
    """Fails its first `fail` calls (a crash between creating the org and its key), then issues one key per org."""

    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.issued: list[str] = []

    async def issue(self, org_id: str, org_name: str) -> GatewayKey | None:
        if self.fail:
            self.fail -= 1
            raise StorageError("gateway unreachable")
        self.issued.append(org_id)
        return GatewayKey(id=f"gk-{org_id}", value=f"value-{org_id}", usage_plan_id="plan")


def test_a_bootstrap_interrupted_half_way_is_finished_by_the_next_run_with_the_same_ids() -> None:
    auth, gateway = AuthService(MemoryKV()), FlakyGateway(fail=1)
    with pytest.raises(StorageError):
        asyncio.run(bootstrap(auth, gateway, org_name="acme", admin_name="alice"))
    claim = asyncio.run(auth.store.kv_get(INSTALLATION, BOOTSTRAP))
    assert claim is not None and claim["state"] == "creating"

    done = asyncio.run(bootstrap(auth, gateway, org_name="other name", admin_name="bob"))
    assert done.created and done.org_id == claim["org_id"] and done.admin_id == claim["admin_id"]
    assert done.provisioned is not None and done.provisioned.org.name == "acme"  # the claim's, not the retry's
    assert gateway.issued == [claim["org_id"]]
    assert asyncio.run(load_gateway_key(auth.store, done.org_id)) == done.provisioned.gateway_key

    again = asyncio.run(bootstrap(auth, gateway, org_name="acme", admin_name="alice"))
    assert not again.created and again.provisioned is None
    assert len(asyncio.run(auth.list_users(done.org_id))) == 1 and gateway.issued == [done.org_id]


def _admin_token(auth: AuthService) -> str:
    async def go() -> str:
        org = await auth.create_org("acme", org_id="org_a")
        user = await auth.create_user(org.id, "alice", "reviewer", user_id="usr_a")
        return (await auth.create_key(org.id, user.id, "pasted"))[1]

    return asyncio.run(go())


def test_a_browser_session_is_its_own_key_with_the_same_identity_and_ends_at_sign_out() -> None:
    auth = AuthService(MemoryKV())
    pasted = _admin_token(auth)
    session = asyncio.run(open_session(auth, pasted))
    assert session != pasted
    who, me = asyncio.run(auth.authenticate(session)), asyncio.run(auth.authenticate(pasted))
    assert (who.org_id, who.user_id, who.scopes) == (me.org_id, me.user_id, me.scopes)

    assert not asyncio.run(close_session(auth, pasted))  # signing out never revokes the key that was pasted
    assert asyncio.run(close_session(auth, session))
    with pytest.raises(PermissionDeniedError):
        asyncio.run(auth.authenticate(session))
    asyncio.run(auth.authenticate(pasted))


def test_a_browser_session_expires_and_a_bad_key_opens_none() -> None:
    auth = AuthService(MemoryKV())
    pasted = _admin_token(auth)
    session = asyncio.run(open_session(auth, pasted, ttl_s=0.05))
    asyncio.run(auth.authenticate(session))
    time.sleep(0.1)
    with pytest.raises(PermissionDeniedError, match="unknown API key"):
        asyncio.run(auth.authenticate(session))
    with pytest.raises(PermissionDeniedError):
        asyncio.run(open_session(auth, "dexa_0000000000000000_" + "x" * 43))
