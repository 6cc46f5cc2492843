"""GitHub: REST client (PRs, comments, check runs), GitHub App auth, webhook signatures, and a local fake.

`GitHubAppCredentials` and `StaticTokenCredentials` implement `dexa.code.ports.CredentialSource`;
`GitHubProvider` implements `dexa.code.ports.PullRequestProvider`. The fake (`dexa.adapters.github.fake`) is a
Starlette app that speaks the same REST subset plus git smart HTTP over local bare repositories.
"""

from __future__ import annotations

from .app_auth import GitHubAppCredentials, StaticTokenCredentials, app_jwt
from .client import GitHubClient, PullRequest
from .provider import GitHubProvider
from .webhooks import sign_payload, verify_signature

__all__ = [
    "GitHubAppCredentials",
    "GitHubClient",
    "GitHubProvider",
    "PullRequest",
    "StaticTokenCredentials",
    "app_jwt",
    "sign_payload",
    "verify_signature",
]
