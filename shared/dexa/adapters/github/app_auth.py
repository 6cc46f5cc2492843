"""GitHub App authentication: an RS256 JWT signed with the App's private key, exchanged for installation tokens.

GitHub's rules (docs: "Generating a JSON Web Token for a GitHub App"): `iat` 60 s in the past to absorb clock
drift, `exp` at most 10 minutes ahead, `iss` the App id (or client id). An installation access token lives one
hour; we cache it per installation and refresh it `refresh_margin_s` before `expires_at`, so a token handed to the
git proxy never expires mid-push.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from dexa.core.errors import ConfigError, PermissionDeniedError

from .client import API_URL, api_headers, raise_for_github

if TYPE_CHECKING:  # imported where a key is read or a JWT signed: only a GitHub App needs them (~40 ms cold)
    import httpx
    from cryptography.hazmat.primitives.asymmetric import rsa

logger = logging.getLogger(__name__)

JWT_BACKDATE_S = 60
JWT_LIFETIME_S = 540  # under GitHub's 10-minute ceiling even with the backdated iat

OrgInstallations = Callable[[str], Awaitable[Collection[int]]]


def load_private_key(pem: str | bytes) -> rsa.RSAPrivateKey:
    """Raises ConfigError when the PEM is not an RSA private key (the App's downloaded .pem file)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"GitHub App private key is not a readable PEM private key: {exc}") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError("GitHub App private key must be an RSA key (GitHub signs App JWTs with RS256)")
    return key


def app_jwt(app_id: str | int, private_key: rsa.RSAPrivateKey | str | bytes, *, now: float | None = None) -> str:
    """The App's JWT: `{"iat": now-60, "exp": now+540, "iss": app_id}` signed RS256."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = private_key if isinstance(private_key, rsa.RSAPrivateKey) else load_private_key(private_key)
    issued = int(now if now is not None else time.time())
    claims = {"iat": issued - JWT_BACKDATE_S, "exp": issued + JWT_LIFETIME_S, "iss": str(app_id)}
    return jwt.encode(claims, key, algorithm="RS256")


def parse_expiry(value: str) -> float:
    """GitHub's `expires_at` (`2016-07-11T22:14:10Z`) as a Unix time."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True, slots=True, kw_only=True)
class InstallationToken:
    token: str
    expires_at: float
    installation_id: int


@dataclass(slots=True, kw_only=True)
class GitHubAppCredentials:
    """A CredentialSource backed by a GitHub App.

    Args:
        app_id: the App id (JWT `iss`).
        private_key_pem: the App's private key.
        http: the HTTP client (tests pass one routed by respx).
        org_installations: which installations a Dexa org may use. Without it (single tenant) any installation
            that covers the repo is used; with it, a repo whose installation is not the org's is refused, so one
            org can never mint a token for another org's repositories.
    """

    app_id: str
    private_key_pem: str
    http: httpx.AsyncClient
    api_url: str = API_URL
    org_installations: OrgInstallations | None = None
    refresh_margin_s: float = 300.0
    clock: Callable[[], float] = time.time
    _key: rsa.RSAPrivateKey | None = None
    _tokens: dict[int, InstallationToken] = field(default_factory=dict)
    _repo_installations: dict[str, int] = field(default_factory=dict)
    _locks: dict[int, asyncio.Lock] = field(default_factory=dict)

    def jwt(self) -> str:
        if self._key is None:
            self._key = load_private_key(self.private_key_pem)
        return app_jwt(self.app_id, self._key, now=self.clock())

    async def installation_id(self, repo: str) -> int:
        """`GET /repos/{owner}/{repo}/installation`, cached: installations rarely move."""
        cached = self._repo_installations.get(repo.lower())
        if cached is not None:
            return cached
        resp = await self.http.get(f"{self.api_url}/repos/{repo}/installation", headers=api_headers(self.jwt()))
        raise_for_github(resp, f"find the GitHub App installation for {repo}")
        inst = int(resp.json()["id"])
        self._repo_installations[repo.lower()] = inst
        return inst

    async def installation_token(self, org_id: str, repo: str) -> tuple[str, float]:
        """A token for `repo` usable by `org_id`: (token, expires_at as Unix time).

        Raises:
            PermissionDeniedError: the repo's installation does not belong to the org, or GitHub refused.
            NotFoundError: the App is not installed on the repo.
        """
        inst = await self.installation_id(repo)
        if self.org_installations is not None and inst not in await self.org_installations(org_id):
            raise PermissionDeniedError(f"repository {repo} is not covered by a GitHub App installation of this org")
        lock = self._locks.setdefault(inst, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(inst)
            if cached is not None and cached.expires_at - self.refresh_margin_s > self.clock():
                return cached.token, cached.expires_at
            resp = await self.http.post(
                f"{self.api_url}/app/installations/{inst}/access_tokens", headers=api_headers(self.jwt())
            )
            raise_for_github(resp, f"mint an installation token for installation {inst}")
            body = resp.json()
            minted = InstallationToken(
                token=body["token"], expires_at=parse_expiry(body["expires_at"]), installation_id=inst
            )
            self._tokens[inst] = minted
            logger.info("minted installation token for installation %s (expires %s)", inst, body["expires_at"])
            return minted.token, minted.expires_at


@dataclass(slots=True, kw_only=True)
class StaticTokenCredentials:
    """A CredentialSource with one fixed token (a PAT or `GITHUB_TOKEN`): development and live tests only.

    `repos` optionally limits which repositories the token may be used for (lower-case `owner/name`).
    """

    token: str
    repos: Mapping[str, object] | None = None
    lifetime_s: float = 3600.0
    clock: Callable[[], float] = time.time

    async def installation_token(self, org_id: str, repo: str) -> tuple[str, float]:
        if self.repos is not None and repo.lower() not in self.repos:
            raise PermissionDeniedError(f"no GitHub credential configured for repository {repo}")
        return self.token, self.clock() + self.lifetime_s
