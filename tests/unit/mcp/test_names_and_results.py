"""Tool naming, limits from the environment, and rendering results under the output cap."""

from __future__ import annotations

import mcp.types as types

from dexa.adapters.mcp.names import MAX_TOOL_NAME, McpLimits, dedupe, tool_name
from dexa.adapters.mcp.results import cap, render_call


def test_names_follow_claude_code_and_stay_within_the_api_limit() -> None:
    assert tool_name("git hub", "issue.create") == "mcp__git_hub__issue_create"
    long = tool_name("server", "t" * 200)
    assert len(long) == MAX_TOOL_NAME and long.startswith("mcp__server__t")
    assert tool_name("server", "t" * 200) == long  # stable


def test_colliding_sanitised_names_get_distinct_suffixes() -> None:
    taken = {"mcp__s__a_b"}
    assert dedupe("mcp__s__a_b", taken) == "mcp__s__a_b_2"


def test_limits_come_from_claude_code_variables() -> None:
    limits = McpLimits.from_env({"MAX_MCP_OUTPUT_TOKENS": "500", "MCP_TIMEOUT": "1500", "MCP_TOOL_TIMEOUT": "x"})
    assert limits.max_output_tokens == 500 and limits.startup_timeout_s == 1.5
    assert limits.tool_timeout_s == 100_000.0  # a bad value falls back to the default


def test_cap_truncates_with_an_actionable_notice() -> None:
    text, truncated = cap("a" * 1000, max_tokens=100)
    assert truncated and text.startswith("a" * 400) and "truncated" in text and "narrower" in text
    assert cap("short", max_tokens=100) == ("short", False)


def test_render_shows_every_content_kind_and_keeps_structured_data() -> None:
    result = types.CallToolResult(
        content=[
            types.TextContent(text="hello"),
            types.ImageContent(data="aGVsbG8=", mime_type="image/png"),
            types.ResourceLink(name="doc", uri="file:///d.md"),
            types.EmbeddedResource(resource=types.TextResourceContents(uri="x://y", text="inner")),
        ],
        structured_content={"k": 1},
    )
    rendered = render_call(result, max_tokens=1000)
    assert "hello" in rendered.text and "[image image/png" in rendered.text and "file:///d.md" in rendered.text
    assert "inner" in rendered.text and rendered.data == {"structured_content": {"k": 1}}


def test_structured_only_results_are_shown_as_json() -> None:
    rendered = render_call(types.CallToolResult(content=[], structured_content={"a": [1]}), max_tokens=100)
    assert '"a"' in rendered.text and not rendered.is_error
