"""Keys, roles, revocation, rate limits, audit and the local bootstrap."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path

import pytest
from api_harness import Api, make_api
from fastapi.testclient import TestClient

from dexa.api.ratelimit import RateLimit, RateLimiter
from dexa.auth import LOCAL_ORG, LOCAL_USER, AuthService, bootstrap_local, read_local_token
from dexa.auth.keys import digest
from dexa.core.errors import ConfigError, PermissionDeniedError


@pytest.mark.parametrize(
    "header", [None, "Bearer", "Bearer nope", "Basic abc", "Bearer dexa_0123456789abcdef_" + "x" * 43]
)
def test_missing_or_bogus_keys_are_401_problems(client: TestClient, header: str | None) -> None:
    r = client.get("/sessions", headers={"Authorization": header} if header else {})
    assert r.status_code == 401 and r.json()["code"] == "unauthenticated"
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_health_needs_no_key_and_openapi_is_3_1(client: TestClient) -> None:
    assert client.get("/health").json()["status"] == "ok"
    assert client.get("/openapi.json").json()["openapi"].startswith("3.1")


def test_roles_gate_routes(api: Api, client: TestClient) -> None:
    sid = client.post("/sessions", json={}, headers=api.h("a_member")).json()["id"]
    assert client.post("/sessions", json={}, headers=api.h("a_reviewer")).status_code == 403
    assert client.get(f"/sessions/{sid}", headers=api.h("a_reviewer")).status_code == 200
    for path in ("/audit", "/keys", "/users"):
        assert client.get(path, headers=api.h("a_member")).status_code == 403, path
        assert client.get(path, headers=api.h("a_admin")).status_code == 200, path
    assert client.post("/integrations", json={"kind": "crm", "name": "x"}, headers=api.h("a_member")).status_code == 403
    assert client.get("/integrations", headers=api.h("a_reviewer")).status_code == 200


def test_keys_are_hashed_at_rest_scoped_and_revocable(api: Api, client: TestClient) -> None:
    created = client.post(
        "/keys", json={"user_id": "usr_a_member", "name": "ci", "scopes": ["sessions:read"]}, headers=api.h()
    ).json()
    token = created["token"]
    stored = asyncio.run(api.runtime.store.kv_get("api_keys", created["id"], org_id="org_a"))
    assert stored is not None and token not in json.dumps(stored) and stored["hash"] == digest(token)
    h = {"Authorization": f"Bearer {token}"}
    assert client.get("/sessions", headers=h).status_code == 200
    assert client.post("/sessions", json={}, headers=h).status_code == 403  # narrowed below the member role
    assert client.delete(f"/keys/{created['id']}", headers=api.h()).json()["revoked_at"] is not None
    assert client.get("/sessions", headers=h).status_code == 401
    too_wide = client.post(
        "/keys", json={"user_id": "usr_a_reviewer", "name": "x", "scopes": ["audit:read"]}, headers=api.h()
    )
    assert too_wide.status_code == 400 and "exceed role" in too_wide.json()["detail"]
    actions = [e["action"] for e in client.get("/audit", headers=api.h()).json()["data"]]
    assert actions == ["key.create", "key.revoke"]


def test_new_users_get_keys_with_their_role(api: Api, client: TestClient) -> None:
    user = client.post("/users", json={"name": "rita", "role": "reviewer"}, headers=api.h()).json()
    key = client.post("/keys", json={"user_id": user["id"], "name": "rita"}, headers=api.h()).json()
    me = client.get("/me", headers={"Authorization": f"Bearer {key['token']}"}).json()
    assert me["role"] == "reviewer" and me["org_id"] == "org_a" and "sessions:write" not in me["scopes"]


def test_rate_limit_answers_429_with_retry_after_per_org(tmp_path: Path) -> None:
    api = make_api(tmp_path, rate_limit=RateLimit(rate=1, burst=3))
    with TestClient(api.app) as client:
        codes = [client.get("/me", headers=api.h("a_admin")).status_code for _ in range(5)]
        assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
        r = client.get("/me", headers=api.h("a_member"))
        assert r.status_code == 429 and r.json()["code"] == "rate_limited" and int(r.headers["retry-after"]) >= 1
        assert client.get("/me", headers=api.h("b_admin")).status_code == 200  # another org has its own bucket


def test_token_bucket_refills_over_time() -> None:
    now = [0.0]
    limiter = RateLimiter(RateLimit(rate=2, burst=2), clock=lambda: now[0])
    assert [limiter.take("o") for _ in range(3)] == [0, 0, 1]
    now[0] = 0.5
    assert limiter.take("o") == 0 and limiter.take("o") == 1


def test_integrations_are_recorded_per_org_refuse_secrets_and_are_audited(api: Api, client: TestClient) -> None:
    r = client.post(
        "/integrations", json={"kind": "email", "name": "mail", "config": {"smtp": {"password": "x"}}}, headers=api.h()
    )
    assert r.status_code == 400 and "config.smtp.password" in r.json()["detail"]
    made = client.post(
        "/integrations", json={"kind": "email", "name": "mail", "config": {"credentials_ref": "v1"}}, headers=api.h()
    ).json()
    assert client.get(f"/integrations/{made['id']}/status", headers=api.h()).json()["state"] == "configured"
    assert client.get("/integrations", headers=api.h("b_admin")).json()["count"] == 0
    assert client.delete(f"/integrations/{made['id']}", headers=api.h()).status_code == 204
    assert client.delete(f"/integrations/{made['id']}", headers=api.h()).status_code == 404
    actions = [e["action"] for e in client.get("/audit", headers=api.h()).json()["data"]]
    assert actions == ["integration.create", "integration.delete"]


def test_audit_is_append_only_ordered_and_pages(api: Api, client: TestClient) -> None:
    sid = client.post("/sessions", json={}, headers=api.h()).json()["id"]
    for mode in ("plan", "acceptEdits", "default", "plan", "dontAsk"):
        client.post(f"/sessions/{sid}/mode", json={"mode": mode}, headers=api.h())
    page1 = client.get("/audit", params={"limit": 3}, headers=api.h()).json()
    page2 = client.get("/audit", params={"after": page1["next_after"]}, headers=api.h()).json()
    entries = page1["data"] + page2["data"]
    assert [e["detail"]["to"] for e in entries] == ["plan", "acceptEdits", "default", "plan", "dontAsk"]
    assert [e["id"] for e in entries] == sorted(e["id"] for e in entries) and page2["next_after"] is None


def test_local_bootstrap_creates_org_user_and_a_private_token_once(tmp_path: Path) -> None:
    api = make_api(tmp_path)
    auth = AuthService(api.runtime.store)
    home = tmp_path / "dexa-home"
    token = asyncio.run(bootstrap_local(auth, home))
    assert read_local_token(home) == token
    assert stat.S_IMODE((home / "token").stat().st_mode) == 0o600
    assert asyncio.run(bootstrap_local(auth, home)) == token  # second run reuses it
    who = asyncio.run(auth.authenticate(token))
    assert (who.org_id, who.user_id, who.role) == (LOCAL_ORG, LOCAL_USER, "admin")
    (home / "token").write_text("dexa_revoked")
    assert asyncio.run(bootstrap_local(auth, home)) != token  # a broken token file is replaced


def test_local_ids_match_the_embedded_runtime() -> None:
    from dexa import wiring

    assert (LOCAL_ORG, LOCAL_USER) == (wiring.LOCAL_ORG, wiring.LOCAL_USER)


def test_auth_service_refuses_bad_roles_and_unknown_tokens(tmp_path: Path) -> None:
    auth = make_api(tmp_path).auth
    with pytest.raises(ConfigError, match="role must be one of"):
        asyncio.run(auth.create_user("org_a", "x", "owner"))
    with pytest.raises(PermissionDeniedError):
        asyncio.run(auth.authenticate("dexa_" + "0" * 16 + "_" + "a" * 43))
