"""Secrets Manager values the control plane needs (signing secrets, bot tokens, link keys), read once per container.

`NAME` in the environment wins (local runs, tests); otherwise `NAME_ARN` names the secret the stack made. Values are
never logged and never reach a sandbox.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dexa.core.errors import ConfigError


class SecretReader:
    def __init__(self, env: Mapping[str, str], *, client: Any = None) -> None:
        self._env = env
        self._client = client
        self._cache: dict[str, str] = {}

    def _sm(self) -> Any:
        if self._client is None:
            from .clients import aws_client

            region = self._env.get("AWS_REGION") or self._env.get("AWS_DEFAULT_REGION")
            self._client = aws_client("secretsmanager", region=region)
        return self._client

    def get(self, name: str, *, stage: str = "AWSCURRENT") -> str:
        """`name` from the environment, else the secret `name`_ARN points to; "" when neither is set."""
        key = f"{name}@{stage}"
        if key not in self._cache:
            value = self._env.get(name, "") if stage == "AWSCURRENT" else ""
            arn = self._env.get(f"{name}_ARN", "")
            if not value and arn:
                value = self.fetch(arn, stage=stage)
            self._cache[key] = value
        return self._cache[key]

    def fetch(self, arn: str, *, stage: str = "AWSCURRENT") -> str:
        """One secret's string at a version stage; "" for a stage that has no version (e.g. no AWSPREVIOUS yet).

        Raises:
            ConfigError: the secret cannot be read (missing, or no permission): the deployment is broken.
        """
        try:
            out = self._sm().get_secret_value(SecretId=arn, VersionStage=stage)
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            if stage != "AWSCURRENT" and code == "ResourceNotFoundException":
                return ""
            raise ConfigError(f"cannot read secret {arn} ({stage}): {code or type(exc).__name__}") from exc
        return str(out.get("SecretString") or "")


ENV_LINK_KEY = "DEXA_LINK_KEY"


def link_keys(reader: SecretReader) -> list[bytes]:
    """The approval-link keys, newest first: the secret's current version signs; its previous version (kept by
    Secrets Manager after a rotation) still verifies links already sent. Empty when no key is configured.

    Raises:
        ConfigError: a configured key is shorter than 32 characters.
    """
    keys = [v.encode() for v in (reader.get(ENV_LINK_KEY), reader.get(ENV_LINK_KEY, stage="AWSPREVIOUS")) if v]
    if any(len(k) < 32 for k in keys):
        raise ConfigError(f"{ENV_LINK_KEY} must be at least 32 characters (the stack generates 64)")
    return keys


ENV_SLACK_BOT_TOKEN = "DEXA_SLACK_BOT_TOKEN"
ENV_SLACK_API_URL = "DEXA_SLACK_API_URL"


@dataclass(frozen=True, slots=True)
class SlackBot:
    token: str
    api_url: str = ""  # "" = Slack's own (https://slack.com/api)


def secret_doc(raw: str, *, name: str, value_key: str, keys: tuple[str, ...]) -> dict[str, str]:
    """A secret that is either a bare value or JSON naming it and where it is used (like the model secret's
    {"api_key", "base_url"}): the endpoint then changes with the secret, not with a redeploy.

    Raises:
        ConfigError: JSON that is not an object of strings, or lacks `value_key`.
    """
    raw = raw.strip()
    if not raw.startswith("{"):
        return {value_key: raw}
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{name}: the secret looks like JSON but does not parse ({exc.msg})") from None
    if not isinstance(doc, dict) or not all(isinstance(v, str) for v in doc.values()):
        raise ConfigError(f"{name}: the secret must be a JSON object of strings, with keys {(value_key, *keys)}")
    if not doc.get(value_key):
        raise ConfigError(f"{name}: the secret's JSON has no {value_key!r}")
    return {k: str(v) for k, v in doc.items() if k in (value_key, *keys)}


def slack_bot(reader: SecretReader, env: Mapping[str, str]) -> SlackBot | None:
    """The bot token that posts approval requests and answers interactions, and the Web API base URL: the secret
    holds `xoxb-...` or {"bot_token", "api_url"}; DEXA_SLACK_API_URL in the environment wins. None when unset.

    Raises:
        ConfigError: the secret cannot be read or is malformed.
    """
    raw = reader.get(ENV_SLACK_BOT_TOKEN)
    if not raw.strip():
        return None
    doc = secret_doc(raw, name=ENV_SLACK_BOT_TOKEN, value_key="bot_token", keys=("api_url",))
    return SlackBot(token=doc["bot_token"], api_url=env.get(ENV_SLACK_API_URL) or doc.get("api_url", ""))


def ssm_parameter(name: str, env: Mapping[str, str], *, client: Any = None) -> str:
    """One SSM parameter's value (e.g. the public URL the API stack publishes).

    Raises:
        ConfigError: the parameter cannot be read.
    """
    try:
        if client is None:
            from .clients import aws_client

            client = aws_client("ssm", region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"))
        return str(client.get_parameter(Name=name)["Parameter"]["Value"])
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        raise ConfigError(f"cannot read SSM parameter {name}: {code or type(exc).__name__}") from exc
