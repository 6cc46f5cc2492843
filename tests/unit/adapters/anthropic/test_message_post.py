"""A Messages request without spans goes through the client's own `post` (dexa.adapters.anthropic.sdk): the server
receives what `client.messages.create` sends, headers included, and the SDK's stream yields the events as the plain
JSON objects the resource's event models stand for. A client that records spans still goes through the resource."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from dexa.adapters.anthropic.convert import build_params
from dexa.adapters.anthropic.sdk import post_message_stream
from dexa.core.messages import Message, ToolUseBlock, user_text
from dexa.core.ports import ModelRequest, ToolSpec
from dexa.testing.messages_api import serve
from dexa.testing.script import Script

pytestmark = pytest.mark.anyio

BASH = ToolSpec(
    name="Bash",
    description="Run a shell command ✓",  # non-ASCII: sent as UTF-8, as the SDK's encoder does
    input_schema={"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]},
)


def _params() -> dict[str, Any]:
    history = (
        user_text("u1", "list files"),
        Message(id="a1", role="assistant", content=(ToolUseBlock(id="toolu_1", name="Bash", input={"n": (1, 2)}),)),
        user_text("u2", "and now?"),
    )
    request = ModelRequest(model="", system="You are Dexa.", messages=history, tools=(BASH,))
    return build_params(request, model_id="claude-sonnet-5-5", max_tokens=1024, thinking_budget=2048)


async def _events(stream: Any) -> list[Any]:
    async with stream:
        return [event async for event in stream]


async def test_the_post_sends_what_messages_create_sends_and_streams_the_same_events_as_dicts() -> None:
    # The history holds one assistant message, so the fake answers with its second turn.
    script = {"turns": [{"text": "-"}, {"text": "one", "tool_uses": [{"name": "Bash", "input": {"command": "ls"}}]}]}
    headers = {"anthropic-beta": "context-1m-2025-08-07"}
    with serve(Script.from_dict(script)) as server:
        client = anthropic.AsyncAnthropic(base_url=server.url, api_key="k", max_retries=0)
        try:
            by_resource = await _events(
                await client.messages.create(**_params(), stream=True, extra_headers=headers)  # pyright: ignore[reportCallIssue, reportArgumentType]
            )
            [resource_request] = server.requests
            server.reset()  # a fresh prompt cache; the fake picks turns by history, so the same reply comes back
            by_post = await _events(await post_message_stream(client, _params(), headers))
            [post_request] = server.requests
        finally:
            await client.close()
    assert post_request["body"] == resource_request["body"]
    assert post_request["body"]["messages"][1]["content"][0]["input"] == {"n": [1, 2]}
    # Every header alike (auth, version, beta, the SDK's own), and the same bytes: the same length.
    assert post_request["headers"] == resource_request["headers"]
    assert all(isinstance(event, dict) for event in by_post)
    assert [e.to_dict() for e in by_resource] == by_post
    assert [e["type"] for e in by_post][:2] == ["message_start", "content_block_start"]


async def test_an_error_event_in_the_stream_raises_the_sdks_status_error() -> None:
    script = {"turns": [{"text": "-"}, {"error": {"status": 529, "mid_stream": True}, "text": "after the error"}]}
    with serve(Script.from_dict(script)) as server:
        client = anthropic.AsyncAnthropic(base_url=server.url, api_key="k", max_retries=0)
        try:
            with pytest.raises(anthropic.APIStatusError) as info:
                await _events(await post_message_stream(client, _params(), {}))
        finally:
            await client.close()
    assert "overloaded_error" in str(info.value)


async def test_a_body_that_is_not_json_is_refused_naming_the_value() -> None:
    params = {**_params(), "metadata": {"user_id": object()}}
    client = anthropic.AsyncAnthropic(base_url="http://127.0.0.1:9", api_key="k", max_retries=0)
    try:
        with pytest.raises(TypeError, match="holds a object, which is not JSON"):
            await post_message_stream(client, params, {})
    finally:
        await client.close()
