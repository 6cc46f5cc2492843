"""The webhooks Lambda's parts, composed over a built runtime: signing secrets, GitHub `@dexa` triggers that start
sessions as the org's configured user, the Slack reply channel, and the staged-output queue.

Environment (set by stacks/integrations.py; a plain value wins over its `_ARN` secret):
    DEXA_SLACK_SIGNING_SECRET(_ARN)   verifies Slack interactions
    DEXA_GITHUB_WEBHOOK_SECRET(_ARN)  verifies GitHub deliveries
    DEXA_SLACK_BOT_TOKEN(_ARN)        answers interactions (ephemeral refusals): `xoxb-...` or {"bot_token", "api_url"}
    DEXA_PUBLIC_URL(_PARAMETER)       where session links in GitHub comments point (the runtime's base_url)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dexa.adapters.aws.secrets import SecretReader
from dexa.adapters.aws.webhooks import WebhookReceiver
from dexa.core.errors import ConfigError

logger = logging.getLogger(__name__)

_SECRET_NAMES = {
    "slack": ("DEXA_SLACK_SIGNING_SECRET", "DEXA_SLACK_WEBHOOK_SECRET"),
    "github": ("DEXA_GITHUB_WEBHOOK_SECRET", "DEXA_GITHUB_SIGNING_SECRET"),
}


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


def build_receiver(runtime: Any, env: Mapping[str, str], *, secrets: SecretReader | None = None) -> WebhookReceiver:
    from dexa.adapters.aws import schema
    from dexa.adapters.aws.sfn import SfnApprovalNotifier, SfnTurnDriver

    secrets = secrets or SecretReader(env)
    driver = runtime.driver
    if isinstance(driver, SfnTurnDriver):
        notifier: SfnApprovalNotifier | None = driver.approvals
    else:
        notifier = SfnApprovalNotifier(runtime.store) if env.get(schema.ENV_STATE_MACHINE_ARN) else None

    def secret(provider: str) -> str:
        return next((v for v in (secrets.get(n) for n in _SECRET_NAMES.get(provider, ())) if v), "")

    def outputs() -> Any:
        return runtime.integrations.queue

    return WebhookReceiver(
        runtime.engine,
        notifier,
        secret,
        github=github_triggers(runtime, env),
        slack=slack_api(env, secrets),
        outputs=outputs if hasattr(type(runtime), "integrations") else None,  # the class: don't build it yet
    )
