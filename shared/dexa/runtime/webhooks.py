"""What the webhook fronts build over a runtime: GitHub `@dexa` triggers that start sessions as the org's configured
user, and the Slack Web API client that answers clicks and posts reviews. The webhooks Lambda's receiver is
composed of these in dexa.cloud.webhooks; `dexa serve`'s inbound routes (dexa.api.inbound) and the review notifier
(dexa.runtime.control_plane) use them too.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dexa.adapters.aws.secrets import SecretReader
from dexa.core.errors import ConfigError

logger = logging.getLogger(__name__)


class _NoGitHub:
    """The PullRequestProvider when no GitHub credential is configured: sessions still start, comments are skipped."""

    async def comment(self, org_id: str, repo: str, number: int, body: str) -> str:
        raise ConfigError("no GitHub credentials configured (GITHUB_TOKEN or DEXA_GITHUB_APP_ID)")

    async def get(self, org_id: str, repo: str, number: int) -> Any:
        raise ConfigError("no GitHub credentials configured (GITHUB_TOKEN or DEXA_GITHUB_APP_ID)")


def _workspaces(runtime: Any) -> Path:
    settings = getattr(runtime, "settings", None)
    return Path(settings.workspaces_dir) if settings is not None else Path(runtime.home) / "workspaces"


def github_triggers(runtime: Any, env: Mapping[str, str]) -> Any:
    """GitHubTriggers whose sessions run as the org's `run_as` user in the org's workspace root."""
    from dexa.auth.org_links import github_org, github_run_as
    from dexa.auth.orgpaths import OrgPaths
    from dexa.triggers import GitHubTriggers, runtime_starter

    store = runtime.store
    root = _workspaces(runtime)
    paths = OrgPaths(workspaces=root, scopes=root.parent / "orgs")
    public = str(getattr(runtime, "base_url", "") or env.get("DEXA_PUBLIC_URL", "")).rstrip("/")

    async def run_as(task: Any) -> str:
        return await github_run_as(store, task.org_id)

    async def org_for(installation: int | None, repo: str) -> str | None:
        return await github_org(store, installation, repo)

    remote_root = None
    if getattr(getattr(runtime, "settings", None), "sandbox", "") == "modal":  # a Modal sandbox per session
        from dexa.adapters.modal.image import WORKDIR

        remote_root = WORKDIR
    start = runtime_starter(
        runtime,
        workspace_root=root,
        remote_root=remote_root,
        workspace_for=lambda task: paths.workspace_root(task.org_id),
        run_as=run_as,
        session_url=(lambda sid: f"{public}/sessions/{sid}") if public else (lambda _sid: ""),
    )
    code = getattr(runtime, "code", None)
    provider: Any = code.code.provider if code is not None else _NoGitHub()
    return GitHubTriggers(kv=store, provider=provider, start=start, org_for=org_for)


def slack_api(env: Mapping[str, str], secrets: SecretReader) -> Any:
    """The Slack Web API client, or None without a bot token. The base URL comes with the token's secret
    ({"bot_token", "api_url"}; dexa.adapters.aws.secrets.slack_bot), so pointing Slack elsewhere needs no redeploy."""
    from dexa.adapters.aws.secrets import slack_bot

    bot = slack_bot(secrets, env)
    if bot is None:
        return None
    import httpx

    from dexa.integrations.slack_review import SLACK_API, HttpSlackApi

    return HttpSlackApi(bot.token, http=httpx.AsyncClient(timeout=10), base_url=bot.api_url or SLACK_API)
