"""GitHub App auth: the JWT GitHub expects, installation tokens minted from it, cached until they near expiry."""

from __future__ import annotations

import asyncio
import json
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
