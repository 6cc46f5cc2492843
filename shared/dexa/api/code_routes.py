"""Every route the code workflow needs on the API app: the git proxy, the GitHub webhook and the pull-request routes.

Composed here, above the features, because it joins three of them (dexa.code, dexa.gitproxy, dexa.triggers) and
the API's own routes; inside dexa.code it made code and triggers import each other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

from fastapi import APIRouter

from dexa.core.errors import ConfigError

if TYPE_CHECKING:
    from dexa.code.setup import CodeWiring

# Every path code_routers serves without a webhook (the app's code routes: dexa.server_app defers building them,
# and dexa.api.lazy_routers builds them on the first request to one of these).
PATHS: Final = (
    "/git/s/{session_id}/{owner}/{name}/info/refs",
    "/git/s/{session_id}/{owner}/{name}/{service}",
    "/sessions/{session_id}/pull-requests",
    "/sessions/{session_id}/pull-requests/close",
)


def code_routers(
    wiring: CodeWiring,
    *,
    start: Any = None,
    org_for: Any = None,
    workspace_for: Callable[[Any], Awaitable[Any]] | None = None,
) -> list[APIRouter]:
    """The git proxy; the webhook with `start` (and a webhook secret), where `org_for(installation_id, repo)` maps
    GitHub installations to Dexa orgs; the pull-request routes with `workspace_for(session)`."""
    from dexa.gitproxy.router import create_gitproxy_router

    out: list[APIRouter] = [
        create_gitproxy_router(
            tokens=wiring.tokens,
            credentials=wiring.credentials,
            kv=wiring.kv,
            upstream_url=wiring.settings.git_url,
            http=wiring.http,
            cache_dir=wiring.state_dir / "mirrors",
        )
    ]
    if start is not None and wiring.settings.webhook_secret:
        if org_for is None:
            raise ConfigError("the GitHub webhook needs org_for(installation_id, repo) -> Dexa org id")
        from dexa.triggers import GitHubTriggers, create_webhook_router

        triggers = GitHubTriggers(kv=wiring.kv, provider=wiring.code.provider, start=start, org_for=org_for)
        wiring.extra["triggers"] = triggers  # the session-end hook calls triggers.report(...)
        out.append(create_webhook_router(secret=wiring.settings.webhook_secret, triggers=triggers))
    if workspace_for is not None:
        from .routers.pull_requests import create_pull_requests_router

        out.append(create_pull_requests_router(wiring.code, workspace_for))
    return out
