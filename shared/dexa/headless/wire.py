"""Claude Code's headless wire shapes (stream-json messages and the result object), built from Dexa events."""

from __future__ import annotations

import json
import uuid
from typing import Any

from dexa import __version__
from dexa.core.events import Event, EventType
from dexa.core.session import Session

TOOL_RESULT_KEYS = ("type", "tool_use_id", "content", "is_error")
# The Claude Code release whose headless contract Dexa speaks (the parity suite's pin). The Agent SDKs read an X.Y.Z
# `claude_code_version` from the init message and warn about anything else; Dexa's own version rides beside it.
CLAUDE_CODE_COMPAT = "2.1.331"


def init_message(
    session: Session,
    *,
    tools: list[str],
    mcp_servers: list[dict[str, Any]] | None = None,
    api_key_source: str = "none",
    slash_commands: list[str] | None = None,
    skills: list[str] | None = None,
    agents: list[str] | None = None,
    mcp_server_errors: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": "system",
        "subtype": "init",
        "uuid": str(uuid.uuid4()),
        "session_id": session.id,
        "cwd": session.cwd,
        "model": session.model,
        "permissionMode": session.permission_mode,
        "tools": tools,
        "mcp_servers": mcp_servers or [],
        "slash_commands": slash_commands or [],
        "skills": skills or [],
        "agents": agents or [],
        "plugins": [],
        "apiKeySource": api_key_source,
        "claude_code_version": CLAUDE_CODE_COMPAT,
        "dexa_version": __version__,
        "output_style": "default",
    }
    if mcp_server_errors:  # Claude Code sends the key only when an entry was skipped
        message["mcp_server_errors"] = mcp_server_errors
    return message


def event_to_wire(event: Event, session_id: str) -> dict[str, Any] | None:
    """Translate one Dexa event to a stream-json line, or None for events Claude Code does not emit."""
    data = event.data
    if event.type == EventType.MESSAGE_ASSISTANT:
        msg = dict(data["message"])
        return {
            "type": "assistant",
            "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{session_id}/{event.seq}")),
            "session_id": session_id,
            "parent_tool_use_id": data.get("parent_tool_use_id"),
            "message": {
                "id": msg.get("id"),
                "type": "message",
                "role": "assistant",
                "model": msg.get("model"),
                "content": msg.get("content", []),
                "stop_reason": msg.get("stop_reason"),
                "stop_sequence": None,
                "usage": msg.get("usage", {}),
            },
        }
    if event.type == EventType.MESSAGE_USER and data.get("tool_results"):
        content = [{k: b[k] for k in TOOL_RESULT_KEYS if k in b} for b in data["message"]["content"]]
        return {
            "type": "user",
            "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{session_id}/{event.seq}")),
            "session_id": session_id,
            "parent_tool_use_id": data.get("parent_tool_use_id"),
            "message": {"role": "user", "content": content},
        }
    if event.type == EventType.MODEL_RETRY:
        return {"type": "system", "subtype": "api_retry", "session_id": session_id, **data}
    if event.type == EventType.COMPACTED:
        return {
            "type": "system",
            "subtype": "compact_boundary",
            "session_id": session_id,
            "compact_metadata": {"trigger": data.get("trigger"), "pre_tokens": None},
        }
    return None


def result_message(
    session: Session,
    outcome: dict[str, Any] | None,
    *,
    duration_ms: int,
    duration_api_ms: int = 0,
    usage: dict[str, int] | None = None,
    model_usage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A `result` object; `outcome` is the data of the turn.completed / turn.failed event. `usage` is the turn's and
    `model_usage` the run's per model id (dexa.headless.usage); without them the session's totals stand in."""
    outcome = outcome or {}
    subtype = str(outcome.get("subtype") or ("success" if not session.error else "error_during_execution"))
    is_error = subtype != "success"
    out: dict[str, Any] = {
        "type": "result",
        "subtype": subtype,
        "uuid": str(uuid.uuid4()),
        "session_id": session.id,
        "duration_ms": duration_ms,
        "duration_api_ms": duration_api_ms,
        "is_error": is_error,
        "num_turns": int(outcome.get("num_turns", 0)),
        "stop_reason": "end_turn" if not is_error else None,
        "total_cost_usd": round(session.cost_usd, 6),
        "usage": usage if usage is not None else session.usage.to_dict(),
        "modelUsage": model_usage if model_usage is not None else _session_model_usage(session),
        "permission_denials": outcome.get("permission_denials", []),
    }
    if is_error:
        out["errors"] = [str(outcome.get("error") or session.error or subtype)]
    else:
        out["result"] = str(outcome.get("result", ""))
    return out


def _session_model_usage(session: Session) -> dict[str, Any]:
    u = session.usage
    return {
        session.model: {
            "inputTokens": u.input_tokens,
            "outputTokens": u.output_tokens,
            "cacheReadInputTokens": u.cache_read_input_tokens,
            "cacheCreationInputTokens": u.cache_creation_input_tokens,
            "webSearchRequests": 0,
            "costUSD": round(session.cost_usd, 6),
        }
    }


def error_result(message: str, *, session_id: str = "", duration_ms: int = 0) -> dict[str, Any]:
    """The result printed when a run fails before any turn (no key, unknown --resume id, bad config)."""
    return {
        "type": "result",
        "subtype": "error_during_execution",
        "uuid": str(uuid.uuid4()),
        "session_id": session_id,
        "duration_ms": duration_ms,
        "duration_api_ms": 0,
        "is_error": True,
        "num_turns": 0,
        "stop_reason": None,
        "total_cost_usd": 0,
        "usage": {
            "input_tokens": 0,
            "output_tokens": 0,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
        "modelUsage": {},
        "permission_denials": [],
        "errors": [message],
    }


def stream_event(event: Event, session_id: str) -> dict[str, Any] | None:
    """`--include-partial-messages`: a text or thinking delta as the raw API `content_block_delta` it came from."""
    if event.type not in (EventType.TEXT_DELTA, EventType.THINKING_DELTA):
        return None
    text = str(event.data.get("text", ""))
    delta = (
        {"type": "text_delta", "text": text}
        if event.type == EventType.TEXT_DELTA
        else {"type": "thinking_delta", "thinking": text}
    )
    return {
        "type": "stream_event",
        "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{session_id}/{event.seq}/delta")),
        "session_id": session_id,
        "parent_tool_use_id": None,
        "event": {"type": "content_block_delta", "index": 0, "delta": delta},
    }


def wire_messages(event: Event, session_id: str) -> list[dict[str, Any]]:
    """The stream-json lines for one event. Like Claude Code (observed with 2.1.331), an assistant message with
    several content blocks is emitted as one `assistant` line per block, sharing the message id."""
    wire = event_to_wire(event, session_id)
    if wire is None:
        return []
    if wire["type"] != "assistant" or len(wire["message"]["content"]) <= 1:
        return [wire]
    out: list[dict[str, Any]] = []
    for i, block in enumerate(wire["message"]["content"]):
        line = {
            **wire,
            "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{session_id}/{event.seq}/{i}")),
            "message": {**wire["message"], "content": [block]},
        }
        out.append(line)
    return out


def print_result(
    result: dict[str, Any], *, output_format: str, verbose: bool, messages: list[dict[str, Any]], out: Any, err: Any
) -> int:
    """Print the final result the way `claude -p` does for each output format; returns the exit code."""
    if output_format == "text":
        text = result.get("result") if not result["is_error"] else "Error: " + "; ".join(result.get("errors", []))
        (err if result["is_error"] else out).write(f"{text}\n")
    elif output_format == "stream-json":
        out.write(json.dumps(result) + "\n")
    elif verbose:
        out.write(json.dumps([*messages, result]) + "\n")
    else:
        out.write(json.dumps(result) + "\n")
    out.flush()
    return 1 if result["is_error"] else 0
