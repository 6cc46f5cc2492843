"""The control plane's secrets, schedule timer and reviewer notices, chosen for where the runtime runs.

local (`dexa serve`, `dexa run`)         cloud (DEXA_STORE=dynamo, env from the stacks)
vault   Fernet file under the home       DynamoVault (DEXA_VAULT_KMS_KEY: the data stack's KMS key)
links   link.key beside the vault        DEXA_LINK_KEY(_ARN): Secrets Manager, current + previous version
base    the local server's URL           DEXA_PUBLIC_URL: the API's public URL
timer   none: `dexa serve`'s own loop    EventBridge Scheduler (DEXA_SCHEDULE_GROUP)
notices Slack (DEXA_SLACK_BOT_TOKEN(_ARN)) and mail (DEXA_MAIL_FROM through SES), where configured
        mail through SMTP instead when DEXA_SMTP_HOST is set (dexa.integrations.smtp_mailer), in either shape
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dexa.settings import DexaSettings

logger = logging.getLogger(__name__)

ENV_PUBLIC_URL = "DEXA_PUBLIC_URL"
ENV_PUBLIC_URL_PARAMETER = "DEXA_PUBLIC_URL_PARAMETER"


def open_vault(settings: DexaSettings, env: Mapping[str, str]) -> Any:
    from dexa.adapters.aws.dynamo_vault import ENV_VAULT_KEY_ID

    if settings.store == "dynamo":
        if env.get(ENV_VAULT_KEY_ID):
            from dexa.adapters.aws.dynamo_vault import DynamoVault

            return DynamoVault.from_env(env)
        # A file on a Lambda's disk dies with the container: say so loudly, once.
        logger.warning("DEXA_STORE=dynamo without %s: the vault is a file on local disk", ENV_VAULT_KEY_ID)
    from dexa.integrations.vault import FileVault

    return FileVault.open(settings.home, env)


def local_link_secret(home: Path) -> bytes:
    """The HMAC key for signed approval links on one machine: random per installation, kept beside the vault."""
    path = home / "link.key"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(os.urandom(32))
    return path.read_bytes()


def link_secret(settings: DexaSettings, env: Mapping[str, str]) -> bytes | list[bytes]:
    """The deployment's stable key (and the previous one, during a rotation) when configured; else the local one."""
    from dexa.adapters.aws.secrets import ENV_LINK_KEY, SecretReader, link_keys

    if env.get(ENV_LINK_KEY) or env.get(f"{ENV_LINK_KEY}_ARN"):
        keys = link_keys(SecretReader(env))
        if keys:
            return keys
    return local_link_secret(settings.home)


def public_url(env: Mapping[str, str], default: str, *, ssm: Any = None) -> str:
    """DEXA_PUBLIC_URL, else the SSM parameter DEXA_PUBLIC_URL_PARAMETER names (the API stack publishes its URL
    there: the stacks that precede it cannot reference it), else `default`."""
    url = env.get(ENV_PUBLIC_URL, "")
    name = env.get(ENV_PUBLIC_URL_PARAMETER, "")
    if not url and name:
        from dexa.adapters.aws.secrets import ssm_parameter
        from dexa.core.errors import ConfigError

        try:
            url = ssm_parameter(name, env, client=ssm)
        except ConfigError as exc:  # links then point at `default`; every other part of the runtime works
            logger.warning("%s", exc.message)
    return (url or default).rstrip("/")


class _LazySlack:
    """The Slack client, built when a notice is first sent: a cold start reads no secret it may never need, and a
    missing token costs that notice, never the runtime."""

    def __init__(self, env: Mapping[str, str], reader: Any) -> None:
        self._env, self._reader = env, reader
        self._api: Any = None

    def _get(self) -> Any:
        if self._api is None:
            from dexa.core.errors import ConfigError
            from dexa.runtime.webhooks import slack_api

            self._api = slack_api(self._env, self._reader)
            if self._api is None:
                raise ConfigError("the Slack bot token secret is empty; put the xoxb- token in it")
        return self._api

    async def call(self, method: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        return await self._get().call(method, payload)

    async def respond(self, response_url: str, payload: Mapping[str, Any]) -> None:
        await self._get().respond(response_url, payload)


def attach_review_notifier(runtime: Any, env: Mapping[str, str]) -> Any:
    """Announce waiting approvals and staged outputs in Slack / by mail, when either is configured; None if not."""
    from dexa.adapters.aws.secrets import SecretReader
    from dexa.integrations.smtp_mailer import VAULT_PASSWORD_KEY, SmtpMailer

    async def vault_password() -> str:
        return await runtime.integrations.registry.vault.get(VAULT_PASSWORD_KEY) or ""

    # An SMTP server wins where one is configured (`dexa serve`); else SES sends as DEXA_MAIL_FROM.
    mailer: Any = SmtpMailer.from_env(env, vault_password=vault_password)
    if mailer is None:
        from dexa.adapters.aws.ses_mailer import SesMailer

        mailer = SesMailer.from_env(env)
    slack = None
    if env.get("DEXA_SLACK_BOT_TOKEN") or env.get("DEXA_SLACK_BOT_TOKEN_ARN"):
        slack = _LazySlack(env, SecretReader(env))
    if slack is None and mailer is None:
        return None
    from dexa.integrations.review_notify import ReviewNotifier
    from dexa.integrations.trigger_replies import TriggerReplies

    notifier = ReviewNotifier(runtime.store, slack=slack, mailer=mailer, links=lambda: runtime.integrations.links)
    runtime.engine.observers.append(notifier)

    # A session started by an email or a Slack message answers there.
    def base_url() -> str:  # read when a reply is sent: the public URL may be an SSM read
        return str(getattr(runtime, "base_url", "") or "")

    runtime.engine.observers.append(TriggerReplies(runtime.store, slack=slack, mailer=mailer, base_url=base_url))
    return notifier


def code_env(settings: DexaSettings, env: dict[str, str], base_url: str) -> dict[str, str]:
    """The environment the code workflow (repos, git proxy, pull requests) is configured from. In the cloud the
    GitHub token comes from its secret (DEXA_GITHUB_TOKEN_ARN), read on first use only, and the git proxy the
    sandbox reaches is the API's public URL."""
    if settings.store != "dynamo":
        return env
    from dexa.adapters.aws.secrets import SecretReader
    from dexa.core.errors import ConfigError

    if not env.get("GITHUB_TOKEN") and env.get("DEXA_GITHUB_TOKEN_ARN"):
        from dexa.adapters.aws.secrets import secret_doc

        try:
            raw = SecretReader(env).get("DEXA_GITHUB_TOKEN")
            # The token, or {"token", "api_url", "git_url"} (GitHub Enterprise, a proxy, or a stand-in).
            doc = secret_doc(raw, name="DEXA_GITHUB_TOKEN", value_key="token", keys=("api_url", "git_url"))
        except ConfigError as exc:  # sessions without GitHub sources keep working
            logger.warning("%s", exc.message)
            doc = {}
        if doc.get("token"):
            env["GITHUB_TOKEN"] = doc["token"]
            for key, var in (("api_url", "DEXA_GITHUB_API_URL"), ("git_url", "DEXA_GITHUB_URL")):
                if doc.get(key):
                    env.setdefault(var, doc[key])
    env.setdefault(ENV_PUBLIC_URL, base_url)
    if not env.get("DEXA_GIT_PROXY_SECRET"):
        # The step that mints a session's git token and the API that verifies it are different functions: both
        # derive the signing key from the deployment's link key (Secrets Manager), never a per-process random one.
        from dexa.adapters.aws.secrets import ENV_LINK_KEY, link_keys

        if env.get(ENV_LINK_KEY) or env.get(f"{ENV_LINK_KEY}_ARN"):
            try:
                keys = link_keys(SecretReader(env))
            except ConfigError as exc:
                logger.warning("%s", exc.message)
                keys = []
            if keys:
                env["DEXA_GIT_PROXY_SECRET"] = hmac.new(keys[0], b"dexa git proxy", hashlib.sha256).hexdigest()
    return env


def schedule_timer(settings: DexaSettings, env: Mapping[str, str]) -> Any:
    """EventBridge Scheduler when the stack configured a schedule group; else None: `dexa serve`'s own loop reads
    the schedule records, so there is no timer to keep in step."""
    from dexa.adapters.aws.schema import ENV_SCHEDULE_GROUP

    if settings.store == "dynamo" and env.get(ENV_SCHEDULE_GROUP):
        from dexa.adapters.aws.schedules import EventBridgeSchedules
        from dexa.triggers.cron import eventbridge_cron

        return EventBridgeSchedules.from_env(env, expression=eventbridge_cron)
    return None
