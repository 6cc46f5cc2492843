"""AnthropicModel through the real anthropic SDK against the loopback Messages-API fake."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anthropic
import pytest

from dexa.adapters.anthropic.model import AnthropicModel
from dexa.core.errors import ModelRateLimitError, ModelRequestError, ModelUnavailableError
from dexa.core.messages import Message, ServerToolBlock, ThinkingBlock, ToolResultBlock, user_text
from dexa.core.ports import ModelRequest, StreamDelta, ToolSpec
from dexa.core.pricing import cost_usd
from dexa.testing.messages_api import FakeMessagesServer

pytestmark = pytest.mark.anyio

Fake = Callable[[dict[str, Any]], FakeMessagesServer]
BASH = ToolSpec(
    name="Bash",
    description="Run a shell command",
    input_schema={"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]},
)
READ = ToolSpec(name="Read", description="Read a file", input_schema={"type": "object", "properties": {}})


ClientFor = Callable[[str], anthropic.AsyncAnthropic]
ModelFor = Callable[..., AnthropicModel]


@pytest.fixture
def model_for(client_for: ClientFor) -> Callable[..., AnthropicModel]:
    def make(server: FakeMessagesServer, alias: str = "sonnet", **options: Any) -> AnthropicModel:
        return AnthropicModel(alias, client=client_for(server.url), base_delay=0.001, env={}, **options)

    return make


def request(*messages: Message, tools: tuple[ToolSpec, ...] = (BASH,), **kw: Any) -> ModelRequest:
    return ModelRequest(model="", system="You are Dexa.", messages=messages, tools=tools, **kw)


class Sink:
    def __init__(self) -> None:
        self.deltas: list[StreamDelta] = []

    async def __call__(self, delta: StreamDelta) -> None:
        self.deltas.append(delta)

    def of(self, kind: str) -> list[StreamDelta]:
        return [d for d in self.deltas if d.kind == kind]


async def test_text_deltas_stream_in_order_and_join_to_the_final_text(fake: Fake, model_for: ModelFor) -> None:
    server = fake({"turns": [{"text": "The quick brown fox jumps over the lazy dog."}]})
    sink = Sink()
    response = await model_for(server).complete(request(user_text("u1", "hi"), response_id="msg-1"), sink)
    pieces = [d.text for d in sink.of("text")]
    assert len(pieces) >= 3
    assert "".join(pieces) == "The quick brown fox jumps over the lazy dog."
    assert response.message.text == "The quick brown fox jumps over the lazy dog."
    assert response.message.id == "msg-1"
    assert response.message.stop_reason == "end_turn"
    assert server.message_requests()[0]["stream"] is True


async def test_tool_input_streamed_in_pieces_parses_into_the_tool_use(fake: Fake, model_for: ModelFor) -> None:
    command = {"command": "find . -name '*.py' | xargs wc -l | sort -n | tail -5"}
    server = fake({"turns": [{"text": "Counting.", "tool_uses": [{"name": "Bash", "input": command}]}]})
    sink = Sink()
    response = await model_for(server).complete(request(user_text("u1", "count lines")), sink)
    [use] = response.message.tool_uses
    assert use.name == "Bash" and use.input == command
    assert use.id.startswith("toolu_")
    pieces = [d.text for d in sink.of("tool_input") if d.text]
    assert (
        len(pieces) > 1 and "".join(pieces) == '{"command": "find . -name \'*.py\' | xargs wc -l | sort -n | tail -5"}'
    )
    assert all(d.data["id"] == use.id for d in sink.of("tool_input"))
    assert response.message.stop_reason == "tool_use"


async def test_cache_breakpoints_mark_system_last_tool_and_last_two_user_messages(
    fake: Fake, model_for: ModelFor
) -> None:
    server = fake({"turns": [{"text": "a"}, {"text": "b"}, {"text": "c"}]})
    history = (
        user_text("u1", "first"),
        Message(id="a1", role="assistant", content=user_text("", "a").content),
        user_text("u2", "second"),
        Message(id="a2", role="assistant", content=user_text("", "b").content),
        user_text("u3", "third"),
    )
    await model_for(server).complete(request(*history, tools=(BASH, READ)))
    body = server.message_requests()[0]
    marked = [path for path, block in _blocks_with_paths(body) if block.get("cache_control") == {"type": "ephemeral"}]
    assert marked == ["system.0", "tools.1", "messages.2.0", "messages.4.0"]


async def test_never_more_than_four_cache_breakpoints_even_with_long_histories(fake: Fake, model_for: ModelFor) -> None:
    turns = [{"text": f"r{i}"} for i in range(8)]
    server = fake({"turns": turns})
    history: list[Message] = []
    for i in range(6):
        history.append(user_text(f"u{i}", f"q{i}"))
        history.append(Message(id=f"a{i}", role="assistant", content=user_text("", f"r{i}").content))
    history.append(user_text("u-last", "last"))
    await model_for(server).complete(request(*history, tools=(BASH, READ)))
    body = server.message_requests()[0]
    assert sum(1 for _, b in _blocks_with_paths(body) if "cache_control" in b) == 4


async def test_second_call_reads_the_cached_prefix(fake: Fake, model_for: ModelFor) -> None:
    server = fake({"turns": [{"text": "one"}, {"text": "two"}]})
    model = model_for(server)
    first = await model.complete(request(user_text("u1", "hello " * 50)))
    second = await model.complete(request(user_text("u1", "hello " * 50), first.message, user_text("u2", "more")))
    assert first.usage.cache_creation_input_tokens > 0
    assert second.usage.cache_read_input_tokens > 0


async def test_overloaded_529_is_retried_and_reported_as_a_retry_delta(fake: Fake, model_for: ModelFor) -> None:
    server = fake({"turns": [{"error": {"status": 529, "times": 2}}, {"text": "made it"}]})
    sink = Sink()
    response = await model_for(server, max_retries=4).complete(request(user_text("u1", "hi")), sink)
    assert response.message.text == "made it"
    retries = sink.of("retry")
    assert [r.data["attempt"] for r in retries] == [1, 2]
    first = retries[0].data
    assert first["max_retries"] == 4
    assert first["error_status"] == 529
    assert first["error"] == "overloaded"
    assert first["discard_partial"] is False
    assert isinstance(first["retry_delay_ms"], int)
    assert sink.deltas.index(retries[-1]) < sink.deltas.index(sink.of("text")[0])
    assert len(server.message_requests()) == 3


async def test_rate_limit_retry_waits_for_retry_after(fake: Fake, model_for: ModelFor) -> None:
    server = fake({"turns": [{"error": {"status": 429, "retry_after": 0.05}}, {"text": "ok"}]})
    sink = Sink()
    await model_for(server).complete(request(user_text("u1", "hi")), sink)
    [retry] = sink.of("retry")
    assert retry.data["retry_delay_ms"] == 50
    assert retry.data["error"] == "rate_limit"


async def test_mid_stream_overloaded_error_event_is_retried(fake: Fake, model_for: ModelFor) -> None:
    server = fake({"turns": [{"error": {"status": 529, "mid_stream": True}}, {"text": "recovered in full"}]})
    sink = Sink()
    response = await model_for(server).complete(request(user_text("u1", "hi")), sink)
    assert response.message.text == "recovered in full"
    [retry] = sink.of("retry")
    assert retry.data["error_status"] == 529
    # The failed attempt had streamed text already: clients are told to drop it.
    assert retry.data["discard_partial"] is True
    after = sink.deltas[sink.deltas.index(retry) + 1 :]
    assert "".join(d.text for d in after if d.kind == "text") == "recovered in full"


async def test_retries_give_up_with_model_unavailable_error(fake: Fake, model_for: ModelFor) -> None:
    server = fake({"turns": [{"error": {"status": 529, "times": 10}}, {"text": "never"}]})
    with pytest.raises(ModelUnavailableError) as info:
        await model_for(server, max_retries=2).complete(request(user_text("u1", "hi")))
    assert info.value.status == 529
    assert "overloaded_error" in str(info.value)
    assert len(server.message_requests()) == 3


async def test_exhausted_rate_limit_becomes_model_rate_limit_error(fake: Fake, model_for: ModelFor) -> None:
    server = fake({"turns": [{"error": {"status": 429, "times": 10, "retry_after": 0}}, {"text": "never"}]})
    with pytest.raises(ModelRateLimitError):
        await model_for(server, max_retries=1).complete(request(user_text("u1", "hi")))


async def test_bad_request_is_not_retried_and_names_status_and_api_message(fake: Fake, model_for: ModelFor) -> None:
    server = fake({"turns": [{"error": {"status": 400, "message": "messages: roles must alternate"}}, {"text": "x"}]})
    sink = Sink()
    with pytest.raises(ModelRequestError) as info:
        await model_for(server).complete(request(user_text("u1", "hi")), sink)
    assert info.value.status == 400
    assert "400" in str(info.value) and "messages: roles must alternate" in str(info.value)
    assert sink.of("retry") == []
    assert len(server.message_requests()) == 1


async def test_unreachable_api_becomes_model_unavailable_after_retries(client_for: ClientFor) -> None:
    model = AnthropicModel("sonnet", client=client_for("http://127.0.0.1:9"), base_delay=0.001, max_retries=1, env={})
    sink = Sink()
    with pytest.raises(ModelUnavailableError, match="cannot reach"):
        await model.complete(request(user_text("u1", "hi")), sink)
    assert [d.data["error_status"] for d in sink.of("retry")] == [None]


async def test_thinking_blocks_round_trip_with_their_signature(fake: Fake, model_for: ModelFor) -> None:
    server = fake(
        {
            "turns": [
                {"thinking": "I should list files first.", "tool_uses": [{"name": "Bash", "input": {"command": "ls"}}]},
                {"text": "Two files."},
            ]
        }
    )
    model = model_for(server, thinking_budget=2048)
    sink = Sink()
    first = await model.complete(request(user_text("u1", "what is here?")), sink)
    thinking = first.message.content[0]
    assert isinstance(thinking, ThinkingBlock) and thinking.signature
    assert "".join(d.text for d in sink.of("thinking")) == "I should list files first."
    [use] = first.message.tool_uses
    result = Message(id="u2", role="user", content=(ToolResultBlock(tool_use_id=use.id, content="a\nb"),))
    second = await model.complete(request(user_text("u1", "what is here?"), first.message, result))
    assert second.message.text == "Two files."
    bodies = server.message_requests()
    assert bodies[0]["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert bodies[0]["max_tokens"] > 2048
    replayed = bodies[1]["messages"][1]["content"][0]
    assert replayed == {"type": "thinking", "thinking": thinking.thinking, "signature": thinking.signature}


async def test_altered_thinking_block_is_rejected_by_the_fake_like_the_api(fake: Fake, model_for: ModelFor) -> None:
    server = fake({"turns": [{"text": "a"}, {"text": "b"}]})
    forged = Message(id="a1", role="assistant", content=(ThinkingBlock(thinking="edited", signature="sig_forged"),))
    with pytest.raises(ModelRequestError, match="signature"):
        await model_for(server).complete(request(user_text("u1", "hi"), forged, user_text("u2", "go")))


async def test_usage_comes_from_message_start_and_delta_and_prices_the_call(fake: Fake, model_for: ModelFor) -> None:
    server = fake({"turns": [{"text": "word " * 200}]})
    response = await model_for(server).complete(request(user_text("u1", "question " * 100)))
    usage = response.usage
    assert usage.output_tokens > 200
    assert usage.input_tokens + usage.cache_creation_input_tokens > 200
    assert response.message.usage == usage
    expected = (
        usage.input_tokens * 3 + usage.cache_creation_input_tokens * 3.75 + usage.output_tokens * 15
    ) / 1_000_000
    assert cost_usd(response.model, usage) == pytest.approx(expected)
    assert response.model == "claude-sonnet-5-5"
    assert server.message_requests()[0]["model"] == "claude-sonnet-5-5"


async def test_one_million_context_alias_strips_suffix_and_sends_the_beta(fake: Fake, model_for: ModelFor) -> None:
    server = fake({"turns": [{"text": "big"}]})
    model = model_for(server, "opus[1m]")
    response = await model.complete(request(user_text("u1", "hi")))
    assert response.model == "claude-opus-5-5[1m]"
    [recorded] = [r for r in server.requests if r["path"].startswith("/v1/messages")]
    assert recorded["body"]["model"] == "claude-opus-5-5"
    assert "context-1m" in recorded["headers"]["anthropic-beta"]


async def test_server_tool_spec_is_sent_by_type_and_its_blocks_replay_verbatim(fake: Fake, model_for: ModelFor) -> None:
    server_use = {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "dexa"}}
    result = {
        "type": "web_search_tool_result",
        "tool_use_id": "srvtoolu_1",
        "content": [
            {"type": "web_search_result", "url": "https://example.com/a", "title": "A", "encrypted_content": "e1"}
        ],
    }
    server = fake({"turns": [{"server_blocks": [server_use, result], "text": "Found it."}, {"text": "bye"}]})
    search = ToolSpec(
        name="web_search", description="", input_schema={"max_uses": 2}, server_type="web_search_20250305"
    )
    model = model_for(server)
    first = await model.complete(request(user_text("u1", "search"), tools=(BASH, search)))
    servers = [b for b in first.message.content if isinstance(b, ServerToolBlock)]
    assert [b.raw["type"] for b in servers] == ["server_tool_use", "web_search_tool_result"]
    await model.complete(
        request(user_text("u1", "search"), first.message, user_text("u2", "thanks"), tools=(BASH, search))
    )
    bodies = server.message_requests()
    assert bodies[0]["tools"][1] == {
        "type": "web_search_20250305",
        "name": "web_search",
        "max_uses": 2,
        "cache_control": {"type": "ephemeral"},
    }
    assert bodies[1]["messages"][1]["content"][:2] == [server_use, result]


async def test_web_search_returns_answer_with_source_urls(fake: Fake, model_for: ModelFor) -> None:
    blocks = [
        {"type": "server_tool_use", "id": "srvtoolu_9", "name": "web_search", "input": {"query": "anthropic"}},
        {
            "type": "web_search_tool_result",
            "tool_use_id": "srvtoolu_9",
            "content": [
                {
                    "type": "web_search_result",
                    "url": "https://www.anthropic.com",
                    "title": "Anthropic",
                    "encrypted_content": "x",
                },
                {
                    "type": "web_search_result",
                    "url": "https://docs.anthropic.com",
                    "title": "Docs",
                    "encrypted_content": "y",
                },
            ],
        },
    ]
    server = fake({"turns": [{"server_blocks": blocks, "text": "Anthropic is an AI safety company."}]})
    answer = await model_for(server).web_search("anthropic", allowed_domains=["anthropic.com"])
    assert answer.startswith("Anthropic is an AI safety company.")
    assert "https://www.anthropic.com" in answer and "https://docs.anthropic.com" in answer
    [body] = server.message_requests()
    assert body["tools"] == [
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 5, "allowed_domains": ["anthropic.com"]}
    ]


async def test_anthropic_base_url_env_alone_routes_the_sdk_to_the_fake(
    fake: Fake, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = fake({"turns": [{"text": "via env"}]})
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-env-key")
    model = AnthropicModel("haiku")
    response = await model.complete(request(user_text("u1", "hi")))
    assert response.message.text == "via env"
    [recorded] = [r for r in server.requests if r["path"].startswith("/v1/messages")]
    # This SDK generation sends the key as a bearer token; older ones used x-api-key.
    headers = recorded["headers"]
    assert "sk-env-key" in headers.get("x-api-key", "") + headers.get("authorization", "")
    assert recorded["body"]["model"] == "claude-haiku-5-5"
    await model.aclose()


async def test_auth_token_env_is_sent_as_bearer(fake: Fake, monkeypatch: pytest.MonkeyPatch) -> None:
    server = fake({"turns": [{"text": "ok"}]})
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    monkeypatch.setenv("ANTHROPIC_AUTH_TOKEN", "gateway-token")
    model = AnthropicModel("sonnet")
    await model.complete(request(user_text("u1", "hi")))
    await model.aclose()
    [recorded] = [r for r in server.requests if r["path"].startswith("/v1/messages")]
    assert recorded["headers"]["authorization"] == "Bearer gateway-token"


def _blocks_with_paths(body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    out += [(f"system.{i}", b) for i, b in enumerate(body.get("system") or [])]
    out += [(f"tools.{i}", t) for i, t in enumerate(body.get("tools") or [])]
    for i, message in enumerate(body["messages"]):
        out += [(f"messages.{i}.{j}", b) for j, b in enumerate(message["content"])]
    return out
