"""Tool naming (`mcp__<server>__<tool>`, Claude Code's sanitiser) and the MCP limits read from the environment."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

# The Messages API accepts tool names matching ^[a-zA-Z0-9_-]{1,64}$ on every model we target.
MAX_TOOL_NAME = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def sanitize(part: str) -> str:
    return _UNSAFE.sub("_", part)


def tool_name(server: str, tool: str) -> str:
    """`mcp__<server>__<tool>`, sanitised, shortened with a stable hash suffix when over the API limit."""
    name = f"mcp__{sanitize(server)}__{sanitize(tool)}"
    if len(name) <= MAX_TOOL_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return name[: MAX_TOOL_NAME - 9] + "_" + digest


def dedupe(name: str, taken: set[str]) -> str:
    """Two MCP names that sanitise to the same string (`a.b`, `a_b`) must not shadow each other."""
    if name not in taken:
        return name
    for n in range(2, 1000):
        suffix = f"_{n}"
        candidate = name[: MAX_TOOL_NAME - len(suffix)] + suffix
        if candidate not in taken:
            return candidate
    raise ValueError(f"cannot find a free tool name for {name}")


def _ms(env: Mapping[str, str], key: str, default_ms: float) -> float:
    raw = env.get(key, "").strip()
    try:
        value = float(raw) if raw else default_ms
    except ValueError:
        value = default_ms
    return max(value, 1.0) / 1000.0


def _int(env: Mapping[str, str], key: str, default: int) -> int:
    raw = env.get(key, "").strip()
    try:
        return max(int(raw), 1) if raw else default
    except ValueError:
        return default


@dataclass(frozen=True, slots=True, kw_only=True)
class McpLimits:
    """Claude Code's MCP knobs: MAX_MCP_OUTPUT_TOKENS, MCP_TIMEOUT (startup, ms), MCP_TOOL_TIMEOUT (ms)."""

    max_output_tokens: int = 25_000
    warn_output_tokens: int = 10_000
    # `_meta["anthropic/maxResultSizeChars"]` may raise a tool's own cap up to this.
    max_result_chars_ceiling: int = 500_000
    startup_timeout_s: float = 30.0
    tool_timeout_s: float = 100_000.0
    # A server whose tool schemas take more than this many characters is listed by name and description only; a
    # call loads the real schemas (GitHub's ~90 tools would otherwise cost ~15k tokens on every request).
    eager_schema_chars: int = 20_000

    @staticmethod
    def from_env(env: Mapping[str, str]) -> McpLimits:
        return McpLimits(
            max_output_tokens=_int(env, "MAX_MCP_OUTPUT_TOKENS", 25_000),
            startup_timeout_s=_ms(env, "MCP_TIMEOUT", 30_000),
            tool_timeout_s=_ms(env, "MCP_TOOL_TIMEOUT", 100_000_000),
            eager_schema_chars=_int(env, "DEXA_MCP_EAGER_SCHEMA_CHARS", 20_000),
        )
