"""Dexa's event log as ACP `session/update`s, and an ACP prompt as the text a Dexa turn takes.

Pure translation: no I/O besides reading an @-mentioned file the editor linked. One `EventMapper` per session
remembers what it already streamed (deltas of a message, tool calls started), so a message that arrived whole,
or a replayed log, still shows once and in order.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote, urlparse

from acp import helpers
from acp.schema import (
    AgentMessageChunk,
    AgentPlanUpdate,
    AgentThoughtChunk,
    AudioContentBlock,
    BlobResourceContents,
    ContentToolCallContent,
    CurrentModeUpdate,
    EmbeddedResourceContentBlock,
    FileEditToolCallContent,
    HttpMcpServer,
    ImageContentBlock,
    McpServerStdio,
    ResourceContentBlock,
    SseMcpServer,
    TerminalToolCallContent,
    TextContentBlock,
    ToolCallLocation,
    ToolCallProgress,
    ToolCallStart,
    UserMessageChunk,
)

from dexa.core.errors import ConfigError
from dexa.core.events import Event, EventType

Update = (
    AgentMessageChunk
    | AgentThoughtChunk
    | UserMessageChunk
    | ToolCallStart
    | ToolCallProgress
    | AgentPlanUpdate
    | CurrentModeUpdate
)
PromptBlock = (
    TextContentBlock | ImageContentBlock | AudioContentBlock | ResourceContentBlock | EmbeddedResourceContentBlock
)

# A linked file is inlined up to this size, like a command body's @file (larger ones are named, not read).
LINK_LIMIT = 256 * 1024

_KINDS = {
    "Read": "read",
    "NotebookRead": "read",
    "LS": "read",
    "Edit": "edit",
    "MultiEdit": "edit",
    "Write": "edit",
    "NotebookEdit": "edit",
    "Bash": "execute",
    "BashOutput": "execute",
    "KillShell": "execute",
    "RunScript": "execute",
    "Grep": "search",
    "Glob": "search",
    "WebFetch": "fetch",
    "WebSearch": "fetch",
    "Task": "think",
    "Agent": "think",
    "TodoWrite": "think",
    "ExitPlanMode": "switch_mode",
    "EnterPlanMode": "switch_mode",
}


def tool_kind(name: str) -> Any:
    return _KINDS.get(name, "other")


def tool_title(name: str, tool_input: dict[str, Any]) -> str:
    """What an editor shows on the tool call's line: the tool and what it acts on."""
    path = tool_input.get("file_path") or tool_input.get("notebook_path") or tool_input.get("path")
    if name == "Bash" and tool_input.get("command"):
        return f"`{str(tool_input['command'])[:200]}`"
    if name in ("Grep", "Glob") and tool_input.get("pattern"):
        where = f" in {path}" if path else ""
        return f"{name} `{tool_input['pattern']}`{where}"
    if name in ("WebFetch",) and tool_input.get("url"):
        return f"Fetch {tool_input['url']}"
    if name == "WebSearch" and tool_input.get("query"):
        return f"Search the web: {tool_input['query']}"
    if name in ("Task", "Agent") and tool_input.get("description"):
        return f"Task: {tool_input['description']}"
    if name == "ExitPlanMode":
        return "Ready to code? Review the plan"
    if path:
        return f"{name} {path}"
    return name


def tool_locations(name: str, tool_input: dict[str, Any]) -> list[ToolCallLocation]:
    path = tool_input.get("file_path") or tool_input.get("notebook_path")
    if not path and name in ("Grep", "Glob", "LS"):
        path = tool_input.get("path")
    if not path:
        return []
    line = tool_input.get("offset") if name == "Read" else None
    return [ToolCallLocation(path=str(path), line=int(line) if isinstance(line, int) and line > 0 else None)]


ToolContent = ContentToolCallContent | FileEditToolCallContent | TerminalToolCallContent


def tool_input_of(data: dict[str, Any]) -> dict[str, Any]:
    value = data.get("input")
    return dict(value) if isinstance(value, dict) else {}  # pyright: ignore[reportUnknownArgumentType]


def tool_content(name: str, tool_input: dict[str, Any]) -> list[ToolContent]:
    """Edits as diffs (old text -> new text) an editor can render and review; a plan or a command as text."""
    path = str(tool_input.get("file_path") or "")
    if name == "Edit" and path:
        return [
            helpers.tool_diff_content(
                path, str(tool_input.get("new_string", "")), str(tool_input.get("old_string", ""))
            )
        ]
    if name == "MultiEdit" and path:
        return [
            helpers.tool_diff_content(path, str(e.get("new_string", "")), str(e.get("old_string", "")))
            for e in tool_input.get("edits") or []
            if isinstance(e, dict)
        ]
    if name == "Write" and path:
        return [helpers.tool_diff_content(path, str(tool_input.get("content", "")), None)]
    if name == "ExitPlanMode" and tool_input.get("plan"):
        return [helpers.tool_content(helpers.text_block(str(tool_input["plan"])))]
    if name == "Bash" and tool_input.get("description"):
        return [helpers.tool_content(helpers.text_block(str(tool_input["description"])))]
    return []


_PLAN_STATUS: dict[str, Any] = {"pending": "pending", "in_progress": "in_progress", "completed": "completed"}


def plan_entries(todos: Sequence[dict[str, Any]]) -> AgentPlanUpdate:
    entries = [
        helpers.plan_entry(
            str(t.get("content", "")),
            priority="medium",
            status=_PLAN_STATUS.get(str(t.get("status")), "pending"),
        )
        for t in todos
    ]
    return helpers.update_plan(entries)


def _texts(message: dict[str, Any], kind: str) -> list[str]:
    key = "thinking" if kind == "thinking" else "text"
    return [
        str(b.get(key, ""))
        for b in message.get("content") or []
        if isinstance(b, dict) and b.get("type") == kind and b.get(key)
    ]


class EventMapper:
    """One session's events -> ACP updates. `replay` renders a stored log for session/load: the user's prompts
    too, and no live-only frames."""

    def __init__(self) -> None:
        self._streamed: set[tuple[str, str]] = set()  # (message id, "text" | "thinking") already sent as deltas
        self._started: set[str] = set()

    def updates(self, ev: Event, *, replay: bool = False) -> list[Update]:
        data = ev.data
        t = ev.type
        if t == EventType.TEXT_DELTA and data.get("text"):
            self._streamed.add((str(data.get("message_id")), "text"))
            return [helpers.update_agent_message_text(str(data["text"]))]
        if t == EventType.THINKING_DELTA and data.get("text"):
            self._streamed.add((str(data.get("message_id")), "thinking"))
            return [helpers.update_agent_thought_text(str(data["text"]))]
        if t == EventType.MESSAGE_ASSISTANT:
            return self._whole_message(data.get("message") or {})
        if t == EventType.MESSAGE_USER and replay and not data.get("tool_results"):
            message = data.get("message") or {}
            if message.get("synthetic"):
                return []
            return [helpers.update_user_message_text(s) for s in _texts(message, "text")]
        if t == EventType.TOOL_REQUESTED:
            return [self._start(data)]
        if t == EventType.TOOL_STARTED:
            return [self._progress(data, status="in_progress")]
        if t == EventType.TOOL_COMPLETED:
            ok = data.get("status") == "done" and not data.get("is_error")
            text = str(data.get("content") or "")
            content: list[ToolContent] | None = [helpers.tool_content(helpers.text_block(text))] if text else None
            return [self._progress(data, status="completed" if ok else "failed", content=content)]
        if t == EventType.PERMISSION_RESOLVED and data.get("decision") == "denied":
            # A call the user rejected never runs, so no tool.completed follows: it fails here.
            why = f"Rejected: {data['message']}" if data.get("message") else "Rejected by the user."
            return [self._progress(data, status="failed", content=[helpers.tool_content(helpers.text_block(why))])]
        if t == EventType.TODO_UPDATED:
            return [plan_entries(list(data.get("todos") or []))]
        if t == EventType.PERMISSION_MODE_CHANGED and data.get("to"):
            return [helpers.update_current_mode(str(data["to"]))]
        return []

    def _whole_message(self, message: dict[str, Any]) -> list[Update]:
        """A message whose deltas were never logged (a non-streaming model, an old log) is sent whole."""
        mid = str(message.get("id"))
        out: list[Update] = []
        if (mid, "thinking") not in self._streamed:
            out += [helpers.update_agent_thought_text(s) for s in _texts(message, "thinking")]
        if (mid, "text") not in self._streamed:
            out += [helpers.update_agent_message_text(s) for s in _texts(message, "text")]
        return out

    def _start(self, data: dict[str, Any]) -> ToolCallStart:
        tid = str(data.get("tool_use_id"))
        name = str(data.get("name") or "")
        tool_input = tool_input_of(data)
        self._started.add(tid)
        return ToolCallStart(
            session_update="tool_call",
            tool_call_id=tid,
            title=tool_title(name, tool_input),
            kind=tool_kind(name),
            status="pending",
            content=tool_content(name, tool_input) or None,
            locations=tool_locations(name, tool_input) or None,
            raw_input=tool_input,
        )

    def _progress(
        self, data: dict[str, Any], *, status: Any, content: list[ToolContent] | None = None
    ) -> ToolCallProgress:
        return ToolCallProgress(
            session_update="tool_call_update",
            tool_call_id=str(data.get("tool_use_id")),
            status=status,
            content=content,
        )


def _file_path(uri: str) -> str | None:
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return unquote(parsed.path)
    if not parsed.scheme and uri.startswith("/"):
        return uri
    return None


def _inside(path: str, roots: Sequence[str]) -> bool:
    real = os.path.realpath(path)
    return any(real == r or real.startswith(r.rstrip("/") + "/") for r in map(os.path.realpath, roots))


def prompt_text(blocks: Sequence[PromptBlock], *, roots: Sequence[str]) -> str:
    """The turn's prompt: text as typed; an @-mentioned file (resource_link) named and, when it is a small file
    inside the workspace, inlined; an embedded resource (the editor's selection or buffer) inlined as context.
    Images and audio are refused by name: the initialize answer says this agent takes neither."""
    parts: list[str] = []
    context: list[str] = []
    for block in blocks:
        if isinstance(block, TextContentBlock):
            parts.append(block.text)
        elif isinstance(block, ResourceContentBlock):
            path = _file_path(block.uri)
            parts.append(f"@{path or block.uri}")
            if path and _inside(path, roots) and os.path.isfile(path) and os.path.getsize(path) <= LINK_LIMIT:
                with open(path, "rb") as fh:
                    text = fh.read().decode("utf-8", errors="replace")
                context.append(f'<file path="{path}">\n{text}\n</file>')
        elif isinstance(block, EmbeddedResourceContentBlock):
            res = block.resource
            if isinstance(res, BlobResourceContents):
                raise ConfigError(f"prompt: embedded resource {res.uri} is binary; only text resources are taken")
            path = _file_path(res.uri)
            parts.append(f"@{path or res.uri}")
            context.append(f'<context ref="{res.uri}">\n{res.text}\n</context>')
        else:
            raise ConfigError(f"prompt: {block.type} content is not supported by Dexa (promptCapabilities says so)")
    text = ""
    for part in parts:
        if text and part and not text[-1].isspace() and not part[0].isspace():
            text += " "  # a link between two words keeps them apart
        text += part
    if context:
        text = text.rstrip() + "\n\n" + "\n\n".join(context)
    return text


def mcp_servers(servers: Sequence[Any]) -> dict[str, Any] | None:
    """The editor's MCP servers (session/new `mcpServers`) as a Claude Code `.mcp.json` document, for the session's
    `--mcp-config`: they are the user's own, like servers named on the command line."""
    out: dict[str, Any] = {}
    for server in servers:
        if isinstance(server, McpServerStdio):
            out[server.name] = {
                "command": server.command,
                "args": list(server.args),
                "env": {e.name: e.value for e in server.env},
            }
        elif isinstance(server, (HttpMcpServer, SseMcpServer)):
            headers = {h.name: h.value for h in server.headers}
            out[server.name] = {"type": server.type, "url": server.url, "headers": headers}
        else:
            raise ConfigError(f"mcpServers: {server.name!r} is an ACP-transport MCP server, which Dexa cannot reach")
    return {"mcpServers": out} if out else None
