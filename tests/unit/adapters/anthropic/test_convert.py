"""Pure Dexa <-> Messages-API dict translation."""

from __future__ import annotations

from dexa.adapters.anthropic.convert import (
    EMPTY_CONTENT_PLACEHOLDER,
    answer_with_sources,
    apply_cache_breakpoints,
    block_from_api,
    build_params,
    message_param,
    tool_param,
    usage_from_api,
)
from dexa.core.messages import (
    Message,
    ServerToolBlock,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
    user_text,
)
from dexa.core.ports import ModelRequest, ToolSpec


def test_client_tool_is_sent_with_its_schema_and_server_tool_by_type() -> None:
    schema = {"type": "object", "properties": {"x": {"type": "string"}}}
    assert tool_param(ToolSpec(name="T", description="d", input_schema=schema)) == {
        "name": "T",
        "description": "d",
        "input_schema": schema,
    }
    search = ToolSpec(
        name="web_search", description="", input_schema={"max_uses": 3}, server_type="web_search_20250305"
    )
    assert tool_param(search) == {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}


def test_tool_results_and_errors_convert_to_api_blocks() -> None:
    message = Message(
        id="u",
        role="user",
        content=(
            ToolResultBlock(tool_use_id="t1", content="boom", is_error=True),
            ToolResultBlock(tool_use_id="t2", content=""),
        ),
    )
    assert message_param(message)["content"] == [
        {"type": "tool_result", "tool_use_id": "t1", "content": "boom", "is_error": True},
        {"type": "tool_result", "tool_use_id": "t2"},
    ]


def test_unsigned_thinking_and_empty_text_are_dropped_and_empty_messages_get_a_placeholder() -> None:
    message = Message(id="a", role="assistant", content=(ThinkingBlock(thinking="t"), TextBlock(text="")))
    assert message_param(message)["content"] == [{"type": "text", "text": EMPTY_CONTENT_PLACEHOLDER}]


def test_cache_breakpoints_are_capped_at_four_and_skip_thinking_blocks() -> None:
    system = [{"type": "text", "text": "s"}]
    tools = [{"name": "a"}, {"name": "b"}]
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "1"}, {"type": "text", "text": "2"}]},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "x", "signature": "s"}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t"}]},
    ]
    assert apply_cache_breakpoints(system, tools, messages) == 4
    assert "cache_control" in system[0] and "cache_control" in tools[1] and "cache_control" not in tools[0]
    assert "cache_control" in messages[0]["content"][1] and "cache_control" not in messages[0]["content"][0]
    assert "cache_control" in messages[2]["content"][0]
    assert "cache_control" not in messages[1]["content"][0]


def test_build_params_without_system_or_tools_places_only_message_breakpoints() -> None:
    params = build_params(
        ModelRequest(model="m", system="", messages=(user_text("u", "hi"),)), model_id="claude-x", max_tokens=100
    )
    assert "system" not in params and "tools" not in params and "thinking" not in params
    assert params["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]}
    ]


def test_thinking_budget_has_a_floor_and_stays_below_max_tokens() -> None:
    request = ModelRequest(model="m", system="", messages=(user_text("u", "hi"),))
    params = build_params(request, model_id="x", max_tokens=500, thinking_budget=10)
    assert params["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert params["max_tokens"] == 1025
    assert "thinking" not in build_params(request, model_id="x", max_tokens=500, thinking_budget=0)


def test_api_blocks_become_dexa_blocks_and_unknown_ones_are_kept_verbatim() -> None:
    assert block_from_api({"type": "text", "text": "hi", "citations": None}) == TextBlock(text="hi")
    assert block_from_api({"type": "tool_use", "id": "t", "name": "n", "input": {"a": 1}}) == ToolUseBlock(
        id="t", name="n", input={"a": 1}
    )
    redacted = {"type": "redacted_thinking", "data": "opaque"}
    block = block_from_api(redacted)
    assert isinstance(block, ServerToolBlock) and block.raw == redacted
    assert message_param(Message(id="a", role="assistant", content=(block,)))["content"] == [redacted]


def test_usage_merges_start_and_delta_with_later_values_winning() -> None:
    start = {"input_tokens": 10, "output_tokens": 1, "cache_read_input_tokens": 5, "cache_creation_input_tokens": None}
    delta = {"output_tokens": 42}
    assert usage_from_api(start, delta) == Usage(input_tokens=10, output_tokens=42, cache_read_input_tokens=5)


def test_search_answer_lists_each_source_once_and_reports_search_errors() -> None:
    blocks = [
        {
            "type": "web_search_tool_result",
            "content": [{"url": "https://a", "title": "A"}, {"url": "https://a", "title": "A"}],
        },
        {
            "type": "web_search_tool_result",
            "content": {"type": "web_search_tool_result_error", "error_code": "max_uses_exceeded"},
        },
        {"type": "text", "text": "Answer."},
    ]
    assert answer_with_sources(blocks) == "Answer.\n\nWeb search error: max_uses_exceeded\n\nSources:\n- A: https://a"
