"""`BedrockModel`: the same streaming code path on Amazon Bedrock (`anthropic.AsyncAnthropicBedrock`).

Credentials come from the usual AWS chain (or AWS_BEARER_TOKEN_BEDROCK) as the SDK resolves them; the region
from AWS_REGION, as Claude Code requires. Model names resolve like everywhere else, then map to Bedrock
cross-region inference profile ids (`us.anthropic.claude-sonnet-5-v1:0`).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from typing import Any

from dexa.core.errors import ConfigError
from dexa.core.models import api_model_id

from .model import AnthropicModel

DEFAULT_REGION = "us-east-1"

# Bedrock pins older models to their snapshot dates; newer ids follow `<id>-v1:0`.
_SNAPSHOTS: dict[str, str] = {
    "claude-sonnet-4": "claude-sonnet-4-20250514",
    "claude-sonnet-4-5": "claude-sonnet-4-5-20250929",
    "claude-opus-4": "claude-opus-4-20250514",
    "claude-opus-4-1": "claude-opus-4-1-20250805",
    "claude-opus-4-5": "claude-opus-4-5-20251101",
    "claude-haiku-4-5": "claude-haiku-4-5-20251001",
}


def bedrock_region(env: Mapping[str, str]) -> str:
    return env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


def geo_prefix(region: str) -> str:
    """The cross-region inference profile prefix for a region."""
    if region.startswith("eu-"):
        return "eu"
    if region.startswith("ap-"):
        return "apac"
    return "us"


def bedrock_model_id(model: str, region: str) -> str:
    """`claude-sonnet-5` -> `us.anthropic.claude-sonnet-5-v1:0`; Bedrock ids and ARNs pass through."""
    name = api_model_id(model)
    if name.startswith("arn:") or "anthropic." in name:
        return name
    return f"{geo_prefix(region)}.anthropic.{_SNAPSHOTS.get(name, name)}-v1:0"


def require_bedrock_sdk() -> None:
    """Bedrock signs requests with botocore, an optional extra: say how to get it before the first request fails."""
    if importlib.util.find_spec("botocore") is None or importlib.util.find_spec("boto3") is None:
        raise ConfigError(
            "CLAUDE_CODE_USE_BEDROCK is set, but the Bedrock client (boto3/botocore) is not installed: "
            "install Dexa with the bedrock extra (pip install 'dexa[bedrock]', uv tool install '.[bedrock]'), "
            "or unset CLAUDE_CODE_USE_BEDROCK to use the Anthropic API"
        )


class BedrockModel(AnthropicModel):
    """Claude on Bedrock. Accepts the same options as AnthropicModel plus `region`."""

    endpoint = "Bedrock"

    def __init__(
        self,
        model: str = "sonnet",
        *,
        region: str | None = None,
        env: Mapping[str, str] | None = None,
        client: Any = None,
        **options: Any,
    ) -> None:
        if client is None:
            require_bedrock_sdk()
        env_map: Mapping[str, str] = os.environ if env is None else env
        self.region = region or bedrock_region(env_map)
        super().__init__(model, client=client, env=env_map, **options)

    def _make_client(self) -> Any:
        from anthropic.lib.bedrock import AsyncAnthropicBedrock

        return AsyncAnthropicBedrock(aws_region=self.region, max_retries=0)

    def api_model(self, model: str) -> str:
        return bedrock_model_id(model, self.region)

    async def _open_stream(self, params: dict[str, Any], headers: dict[str, str]) -> Any:
        # Bedrock's client rewrites the request body (model into the path, its own version field): the resource's
        # dict body, not the pre-serialised one the first-party path sends.
        from .sdk import create_message_stream

        return await create_message_stream(self._client, params, headers)
