"""BedrockModel: the real AsyncAnthropicBedrock client (SigV4, event-stream) against the loopback fake."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from anthropic.lib.bedrock import AsyncAnthropicBedrock

from dexa.adapters.anthropic import make_model
from dexa.adapters.anthropic.bedrock import BedrockModel, bedrock_model_id
from dexa.core.errors import ModelRequestError
from dexa.core.messages import user_text
from dexa.core.ports import ModelRequest, StreamDelta, ToolSpec
from dexa.testing.messages_api import FakeMessagesServer

pytestmark = pytest.mark.anyio

Fake = Callable[[dict[str, Any]], FakeMessagesServer]
BASH = ToolSpec(name="Bash", description="Run", input_schema={"type": "object", "properties": {}})


def test_model_names_map_to_cross_region_inference_profiles() -> None:
    assert bedrock_model_id("claude-sonnet-5-5", "us-east-1") == "us.anthropic.claude-sonnet-5-5-v1:0"
    assert bedrock_model_id("claude-opus-5-5[1m]", "eu-west-1") == "eu.anthropic.claude-opus-5-5-v1:0"
    assert bedrock_model_id("claude-haiku-4-5", "ap-northeast-1") == "apac.anthropic.claude-haiku-4-5-20251001-v1:0"
    assert bedrock_model_id("global.anthropic.claude-x-v1:0", "us-east-1") == "global.anthropic.claude-x-v1:0"
    arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc"
    assert bedrock_model_id(arn, "us-east-1") == arn


async def test_bedrock_request_is_signed_streams_and_names_the_model_in_the_path(fake: Fake) -> None:
    server = fake({"turns": [{"text": "hello from bedrock", "tool_uses": [{"name": "Bash", "input": {"a": 1}}]}]})
    client = AsyncAnthropicBedrock(
        aws_access_key="AKIAFAKEFAKEFAKE",
        aws_secret_key="secret",
        aws_region="eu-west-1",
        base_url=server.url,
        max_retries=0,
    )
    model = BedrockModel("sonnet", client=client, region="eu-west-1", env={}, base_delay=0.001)
    deltas: list[StreamDelta] = []

    async def sink(delta: StreamDelta) -> None:
        deltas.append(delta)

    request = ModelRequest(model="", system="sys", messages=(user_text("u1", "hi"),), tools=(BASH,), response_id="m1")
    response = await model.complete(request, sink)
    await client.close()
    assert response.message.text == "hello from bedrock"
    assert response.message.tool_uses[0].input == {"a": 1}
    assert "".join(d.text for d in deltas if d.kind == "text") == "hello from bedrock"
    [recorded] = server.requests
    assert recorded["path"] == "/model/eu.anthropic.claude-sonnet-5-5-v1:0/invoke-with-response-stream"
    assert recorded["headers"]["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIAFAKEFAKEFAKE/")
    assert "/eu-west-1/bedrock/aws4_request" in recorded["headers"]["authorization"]
    body = recorded["body"]
    assert "model" not in body and "stream" not in body
    assert body["anthropic_version"]
    assert body["tools"][0]["cache_control"] == {"type": "ephemeral"}


async def test_make_model_picks_bedrock_from_env_and_errors_translate(
    fake: Fake, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = fake({"turns": [{"error": {"status": 400, "message": "bad model"}}, {"text": "unused"}]})
    env = {
        "CLAUDE_CODE_USE_BEDROCK": "1",
        "AWS_REGION": "us-west-2",
        "AWS_ACCESS_KEY_ID": "AKIAFAKE",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "ANTHROPIC_BEDROCK_BASE_URL": server.url,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    model = make_model("haiku", env)
    assert isinstance(model, BedrockModel)
    with pytest.raises(ModelRequestError, match=r"Bedrock error 400.*bad model"):
        await model.complete(ModelRequest(model="", system="", messages=(user_text("u1", "hi"),)))
    await model.aclose()
    assert server.requests[0]["path"] == "/model/us.anthropic.claude-haiku-5-5-v1:0/invoke-with-response-stream"
