"""Well-known third-party MCP servers whose writes have a typed preview (a chat message, a SQL change).

Recognised by how the server is started or reached (its command line or URL), the way it is configured in
`.mcp.json`. Only the preview and the output's type come from here; what is staged and executed is always the
call's own arguments, unchanged. Every other server's write gets the generic preview: server, tool, arguments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class KnownTool:
    kind: str
    # Preview field (as kinds.shape reads it) -> the server's own argument name.
    fields: Mapping[str, str]


_SLACK_MESSAGE = KnownTool(kind="chat_message", fields={"channel": "channel_id", "text": "text"})
_SQLITE_CHANGE = KnownTool(kind="sql_change", fields={"sql": "query"})

# (substring of the server's command line or URL, its typed tools)
KNOWN_SERVERS: tuple[tuple[str, Mapping[str, KnownTool]], ...] = (
    ("server-slack", {"slack_post_message": _SLACK_MESSAGE, "slack_reply_to_thread": _SLACK_MESSAGE}),
    ("mcp-server-sqlite", {"write_query": _SQLITE_CHANGE, "create_table": _SQLITE_CHANGE}),
)


def typed_call(origin: str, tool: str, arguments: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The output type and the arguments renamed for its preview, or None for a server or tool not known here."""
    if not origin:
        return None
    for marker, tools in KNOWN_SERVERS:
        known = tools.get(tool) if marker in origin else None
        if known is not None:
            return known.kind, {field: arguments.get(name) for field, name in known.fields.items()}
    return None
