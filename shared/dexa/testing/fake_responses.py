"""What the Messages-API fake says: request checks, reply rendering, SSE events, usage with prompt caching.

Pure functions over request/response dicts; `messages_api` adds the HTTP server around them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from collections.abc import Iterator, Mapping
from typing import Any, cast

from .script import Script, ScriptedError, Turn, assistant_count, chunks, stable_id, thinking_signature

Json = dict[str, Any]
MAX_CACHE_BREAKPOINTS = 4


def error_body(error_type: str, message: str) -> Json:
    return {
        "type": "error",
        "error": {"type": error_type, "message": message},
        "request_id": stable_id("req_", message),
    }


def scripted_error_body(error: ScriptedError) -> Json:
    return error_body(error.error_type, error.error_message)


def validate(body: Any) -> str | None:
    """The API's complaint about a request body, or None. Covers what clients most often get wrong."""
    if not isinstance(body, Mapping):
        return "request body must be a JSON object"
    req = cast("Mapping[str, Any]", body)
    if "model" in req and not isinstance(req["model"], str):
        return "model: Input should be a valid string"
    if not isinstance(req.get("max_tokens"), int) or req["max_tokens"] < 1:
        return "max_tokens: Field required (a positive integer)"
    messages = _objects(req.get("messages"))
    if not messages:
        return "messages: Field required (a non-empty list)"
    breakpoints = sum(1 for block in _all_blocks(req) if "cache_control" in block)
    if breakpoints > MAX_CACHE_BREAKPOINTS:
        return f"A maximum of {MAX_CACHE_BREAKPOINTS} blocks with cache_control may be provided. Found {breakpoints}."
    return _check_signatures(messages)


def turn_index(body: Mapping[str, Any]) -> int:
    messages: list[Json] = body.get("messages") or []
    return assistant_count(str(m.get("role", "")) for m in messages)


def render_message(
    script: Script, index: int, body: Mapping[str, Any], *, cache: dict[str, int], model: str | None = None
) -> Json:
    """The complete assistant message for turn `index`, shaped like a non-streaming API response.

    `cache` is the emulated prompt cache (prefix hash -> tokens), owned by the server.
    """
    turn = script.turns[index]
    seed = json.dumps(body.get("messages", [])[:1], sort_keys=True)
    content: list[Json] = []
    thinking_cfg: Any = body.get("thinking")
    thinking_on = isinstance(thinking_cfg, Mapping) and thinking_cfg.get("type") in ("enabled", "adaptive")  # pyright: ignore[reportUnknownMemberType]
    if turn.thinking and thinking_on:
        content.append({"type": "thinking", "thinking": turn.thinking, "signature": thinking_signature(turn.thinking)})
    content.extend(dict(b) for b in turn.server_blocks)
    if turn.text:
        content.append({"type": "text", "text": turn.text})
    # The real API never calls a tool the request did not declare (side queries send none).
    declared = {str(t.get("name")) for t in _objects(body.get("tools"))}
    uses = [u for u in turn.tool_uses if u.name in declared]
    for k, use in enumerate(uses):
        tool_id = use.id or stable_id("toolu_", seed, index, k)
        content.append({"type": "tool_use", "id": tool_id, "name": use.name, "input": use.input})
    if not content:
        content.append({"type": "text", "text": "OK"})
    stop_reason = turn.stop_reason or ("tool_use" if uses else "end_turn")
    output_chars = sum(len(json.dumps(b)) for b in content)
    return {
        "id": stable_id("msg_", seed, index),
        "type": "message",
        "role": "assistant",
        "model": model or str(body.get("model") or "claude-fake"),
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {**prompt_usage(body, cache), "output_tokens": max(1, output_chars // 4)},
    }


def sse_events(message: Json, turn: Turn, error: ScriptedError | None = None) -> Iterator[tuple[str, Json, bool]]:
    """(event name, data, pause_before) in the exact order the API streams them.

    With `error` (a mid-stream failure) the stream breaks off after the first content block with an `error`
    event, so a client has already shown partial output when it fails.
    """
    usage: Json = message["usage"]
    start: Json = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
    yield "message_start", {"type": "message_start", "message": start}, False
    pinged = False
    for index, block in enumerate(message["content"]):
        for event in _block_events(index, block, turn):
            yield event
            if not pinged:
                # The API pings once, right after the first content_block_start.
                pinged = True
                yield "ping", {"type": "ping"}, False
        if error is not None:
            yield "error", scripted_error_body(error), False
            return
    delta = {"stop_reason": message["stop_reason"], "stop_sequence": None}
    yield "message_delta", {"type": "message_delta", "delta": delta, "usage": usage}, False
    yield "message_stop", {"type": "message_stop"}, False


def prompt_usage(body: Mapping[str, Any], cache: dict[str, int]) -> Json:
    """Input-side usage, emulating prompt caching: a prefix ending at a cache_control breakpoint is written
    the first time it is seen and read afterwards."""
    pieces = [json.dumps(b, sort_keys=True, default=str) for b in _all_blocks(body, strip_cache=True)]
    marks = [i + 1 for i, b in enumerate(_all_blocks(body)) if "cache_control" in b]
    total = max(1, sum(len(p) for p in pieces) // 4)
    read = 0
    for mark in marks:
        key = hashlib.sha256("".join(pieces[:mark]).encode()).hexdigest()
        if key in cache:
            read = max(read, cache[key])
    written = 0
    if marks:
        last = marks[-1]
        key = hashlib.sha256("".join(pieces[:last]).encode()).hexdigest()
        prefix_tokens = sum(len(p) for p in pieces[:last]) // 4
        if key not in cache:
            cache[key] = prefix_tokens
            written = max(0, prefix_tokens - read)
    return {
        "input_tokens": max(1, total - read - written),
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": read,
    }


def count_tokens(body: Mapping[str, Any]) -> int:
    return max(1, sum(len(json.dumps(b, default=str)) for b in _all_blocks(body, strip_cache=True)) // 4)


def encode_event_frame(event: Json) -> bytes:
    """One AWS event-stream frame carrying a Messages event, as Bedrock's invoke-with-response-stream sends."""
    payload = json.dumps({"bytes": base64.b64encode(json.dumps(event).encode()).decode()}).encode()
    headers = {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}
    raw_headers = b"".join(
        len(k).to_bytes(1, "big") + k.encode() + b"\x07" + len(v).to_bytes(2, "big") + v.encode()
        for k, v in headers.items()
    )
    total = 12 + len(raw_headers) + len(payload) + 4
    prelude = total.to_bytes(4, "big") + len(raw_headers).to_bytes(4, "big")
    frame = prelude + zlib.crc32(prelude).to_bytes(4, "big") + raw_headers + payload
    return frame + zlib.crc32(frame).to_bytes(4, "big")


def _block_events(index: int, block: Json, turn: Turn) -> Iterator[tuple[str, Json, bool]]:
    kind = block["type"]
    if kind == "text":
        yield "content_block_start", _start(index, {"type": "text", "text": ""}), False
        for piece in chunks(block["text"]):
            yield "content_block_delta", _delta(index, {"type": "text_delta", "text": piece}), bool(turn.delay_ms)
    elif kind == "thinking":
        yield "content_block_start", _start(index, {"type": "thinking", "thinking": "", "signature": ""}), False
        for piece in chunks(block["thinking"]):
            yield (
                "content_block_delta",
                _delta(index, {"type": "thinking_delta", "thinking": piece}),
                bool(turn.delay_ms),
            )
        yield "content_block_delta", _delta(index, {"type": "signature_delta", "signature": block["signature"]}), False
    elif kind not in ("tool_use", "server_tool_use"):
        # Results arrive whole in content_block_start, as the API sends web_search_tool_result.
        yield "content_block_start", _start(index, block), False
    else:
        yield "content_block_start", _start(index, {**block, "input": {}}), False
        raw = json.dumps(block["input"])
        size = max(1, -(-len(raw) // 3))
        for i in range(0, len(raw), size):
            delta = {"type": "input_json_delta", "partial_json": raw[i : i + size]}
            yield "content_block_delta", _delta(index, delta), bool(turn.delay_ms)
    yield "content_block_stop", {"type": "content_block_stop", "index": index}, False


def _start(index: int, block: Json) -> Json:
    return {"type": "content_block_start", "index": index, "content_block": block}


def _delta(index: int, delta: Json) -> Json:
    return {"type": "content_block_delta", "index": index, "delta": delta}


def _all_blocks(body: Mapping[str, Any], *, strip_cache: bool = False) -> list[Json]:
    """Tools, system blocks, then message blocks: the order the API caches a prompt prefix in."""
    out: list[Json] = [dict(t) for t in _objects(body.get("tools"))]
    system = body.get("system")
    if isinstance(system, str):
        out.append({"type": "text", "text": system})
    out.extend(dict(b) for b in _objects(system))
    for message in _objects(body.get("messages")):
        content = message.get("content")
        if isinstance(content, str):
            out.append({"type": "text", "text": content})
        out.extend(dict(b) for b in _objects(content))
    if strip_cache:
        for block in out:
            block.pop("cache_control", None)
    return out


def _check_signatures(messages: list[Json]) -> str | None:
    for i, message in enumerate(messages):
        for j, block in enumerate(_objects(message.get("content"))):
            if block.get("type") != "thinking":
                continue
            if block.get("signature") != thinking_signature(str(block.get("thinking", ""))):
                return f"messages.{i}.content.{j}: Invalid `signature` in `thinking` block"
    return None


def _objects(value: object) -> list[Json]:
    """The JSON objects in a JSON list; anything else (or a non-list) yields nothing."""
    if not isinstance(value, list):
        return []
    items = cast("list[object]", value)
    return [cast(Json, item) for item in items if isinstance(item, dict)]
