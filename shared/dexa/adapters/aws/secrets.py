"""Secrets Manager values the control plane needs (signing secrets, bot tokens, link keys), read once per container.

`NAME` in the environment wins (local runs, tests); otherwise `NAME_ARN` names the secret the stack made. Values are
never logged and never reach a sandbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dexa.core.errors import ConfigError


class SecretReader:
    def __init__(self, env: Mapping[str, str], *, client: Any = None) -> None:
        self._env = env
        self._client = client
        self._cache: dict[str, str] = {}

    def _sm(self) -> Any:
        if self._client is None:
            import boto3

            region = self._env.get("AWS_REGION") or self._env.get("AWS_DEFAULT_REGION")
            self._client = boto3.client("secretsmanager", region_name=region)
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


def ssm_parameter(name: str, env: Mapping[str, str], *, client: Any = None) -> str:
    """One SSM parameter's value (e.g. the public URL the API stack publishes).

    Raises:
        ConfigError: the parameter cannot be read.
    """
    try:
        if client is None:
            import boto3

            client = boto3.client("ssm", region_name=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"))
        return str(client.get_parameter(Name=name)["Parameter"]["Value"])
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        raise ConfigError(f"cannot read SSM parameter {name}: {code or type(exc).__name__}") from exc
