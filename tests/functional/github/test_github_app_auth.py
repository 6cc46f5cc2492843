"""GitHub App auth: the JWT GitHub expects, installation tokens minted from it, cached until they near expiry."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import httpx
import pytest
import respx
from joserfc import jwt as jose_jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import RSAKey

from dexa.adapters.github import GitHubAppCredentials, app_jwt
from dexa.adapters.github.app_auth import parse_expiry
from dexa.adapters.github.fake import new_app_key
from dexa.core.errors import ConfigError, NotFoundError, PermissionDeniedError

RECORDED = Path(__file__).parent / "recorded"
API = "https://api.github.com"
KEY, PEM = new_app_key()


def _recorded(name: str) -> dict:
    return json.loads((RECORDED / name).read_text())


def _verify(token: str) -> tuple[dict, dict]:
    """(header, claims) checked by joserfc, an RS256 implementation independent of ours."""
    from cryptography.hazmat.primitives import serialization

    pem = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    decoded = jose_jwt.decode(token, RSAKey.import_key(pem), algorithms=["RS256"])
    return dict(decoded.header), dict(decoded.claims)


def test_app_jwt_has_githubs_claims_and_verifies_with_an_independent_rs256_implementation() -> None:
    token = app_jwt(12345, PEM, now=1_700_000_000)
    header, claims = _verify(token)
    assert header["alg"] == "RS256"
    assert claims == {"iat": 1_700_000_000 - 60, "exp": 1_700_000_000 + 540, "iss": "12345"}
    assert claims["exp"] - claims["iat"] <= 600  # GitHub refuses JWTs that live longer than 10 minutes


def test_a_tampered_jwt_does_not_verify() -> None:
    head, _body, sig = app_jwt("1", PEM, now=1_700_000_000).split(".")
    forged = app_jwt("2", PEM, now=1_700_000_000).split(".")[1]
    with pytest.raises(BadSignatureError):
        _verify(f"{head}.{forged}.{sig}")


def test_a_non_rsa_or_garbage_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="PEM"):
        app_jwt("1", "-----BEGIN NOTHING-----\nxx\n-----END NOTHING-----\n")


def _creds(http: httpx.AsyncClient, clock: list[float], **kw) -> GitHubAppCredentials:
    return GitHubAppCredentials(app_id="12345", private_key_pem=PEM, http=http, clock=lambda: clock[0], **kw)


def test_installation_token_is_minted_with_the_app_jwt_then_cached_until_near_expiry() -> None:
    expires = parse_expiry(_recorded("access_token.json")["expires_at"])
    clock = [expires - 3600]

    async def main() -> None:
        with respx.mock(base_url=API, assert_all_called=True) as mock:
            find = mock.get("/repos/octocat/Hello-World/installation").respond(200, json=_recorded("installation.json"))
            mint = mock.post("/app/installations/1/access_tokens").respond(201, json=_recorded("access_token.json"))
            async with httpx.AsyncClient() as http:
                creds = _creds(http, clock)
                token, exp = await creds.installation_token("org_1", "octocat/Hello-World")
                assert (token, exp) == ("ghs_16C7e42F292c6912E7710c838347Ae178B4a", expires)
                jwt = mint.calls[0].request.headers["Authorization"].removeprefix("Bearer ")
                _, claims = _verify(jwt)
                assert claims["iss"] == "12345" and claims["iat"] == int(clock[0]) - 60
                assert mint.calls[0].request.headers["X-GitHub-Api-Version"] == "2022-11-28"
                clock[0] = expires - 301  # still outside the 5-minute refresh margin
                await creds.installation_token("org_1", "octocat/Hello-World")
                assert mint.call_count == 1 and find.call_count == 1
                clock[0] = expires - 299
                await creds.installation_token("org_1", "octocat/Hello-World")
                assert mint.call_count == 2 and find.call_count == 1

    asyncio.run(main())


def test_concurrent_callers_share_one_minted_token() -> None:
    clock = [parse_expiry(_recorded("access_token.json")["expires_at"]) - 3600]

    async def main() -> None:
        with respx.mock(base_url=API) as mock:
            mock.get("/repos/octocat/Hello-World/installation").respond(200, json=_recorded("installation.json"))
            mint = mock.post("/app/installations/1/access_tokens").respond(201, json=_recorded("access_token.json"))
            async with httpx.AsyncClient() as http:
                creds = _creds(http, clock)
                await asyncio.gather(*(creds.installation_token("o", "octocat/Hello-World") for _ in range(5)))
                assert mint.call_count == 1

    asyncio.run(main())


def test_an_org_cannot_use_another_orgs_installation() -> None:
    async def installations(org_id: str) -> set[int]:
        return {1} if org_id == "org_owner" else {99}

    async def main() -> None:
        with respx.mock(base_url=API) as mock:
            mock.get("/repos/octocat/Hello-World/installation").respond(200, json=_recorded("installation.json"))
            mint = mock.post("/app/installations/1/access_tokens").respond(201, json=_recorded("access_token.json"))
            async with httpx.AsyncClient() as http:
                creds = _creds(http, [1_468_271_650.0], org_installations=installations)
                with pytest.raises(PermissionDeniedError, match="not covered"):
                    await creds.installation_token("org_other", "octocat/Hello-World")
                assert mint.call_count == 0
                token, _ = await creds.installation_token("org_owner", "octocat/Hello-World")
                assert token.startswith("ghs_")

    asyncio.run(main())


def test_app_not_installed_on_the_repo_is_not_found() -> None:
    async def main() -> None:
        with respx.mock(base_url=API) as mock:
            mock.get("/repos/acme/private/installation").respond(
                404, json={"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}
            )
            async with httpx.AsyncClient() as http:
                with pytest.raises(NotFoundError, match="installation for acme/private"):
                    await _creds(http, [0.0]).installation_token("o", "acme/private")

    asyncio.run(main())


def _hs256(claims: dict, secret: bytes) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    signing_input = f"{header}.{b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


def test_the_fake_github_mints_for_the_apps_jwt_and_refuses_forged_or_stale_ones(tmp_path: Path) -> None:
    """The fake every code test pushes through verifies App JWTs as GitHub does, so a broken signer fails there."""
    import jwt as pyjwt
    from cryptography.hazmat.primitives import serialization

    from dexa.adapters.github.fake import FakeGitHub

    fake = FakeGitHub(root=tmp_path / "gh", app_id="12345")
    fake.add_repo("acme/api", {"README.md": "hi\n"})
    fake.use_app_key(KEY)
    other_key, _ = new_app_key()
    public_pem = KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = int(time.time())
    good = {"iat": now - 60, "exp": now + 540, "iss": "12345"}
    forged = [
        app_jwt("12345", other_key),  # another key
        app_jwt("999", PEM),  # another App
        app_jwt("12345", PEM, now=now - 1200),  # expired
        pyjwt.encode({**good, "exp": now + 900}, KEY, algorithm="RS256"),  # lives over 10 minutes
        _hs256(good, public_pem),  # the public key as an HMAC secret (PyJWT itself refuses to sign this)
        pyjwt.encode({"iat": now, "exp": now + 60}, KEY, algorithm="RS256"),  # no issuer
    ]

    async def main() -> None:
        transport = httpx.ASGITransport(app=fake.app())
        async with httpx.AsyncClient(transport=transport) as http:
            creds = GitHubAppCredentials(
                app_id="12345", private_key_pem=PEM, http=http, api_url="http://github.test/api/v3"
            )
            token, _ = await creds.installation_token("org_1", "acme/api")
            assert fake.token_valid(token)
            for bad in forged:
                resp = await http.post(
                    "http://github.test/api/v3/app/installations/77/access_tokens",
                    headers={"Authorization": f"Bearer {bad}"},
                )
                assert resp.status_code == 401, bad

    asyncio.run(main())
