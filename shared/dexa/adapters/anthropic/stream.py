"""Fold Messages-API stream events (as dicts) into final content blocks, yielding Dexa deltas on the way."""

from __future__ import annotations

import json
import logging
from typing import Any

from dexa.core.messages import Usage
from dexa.core.ports import StreamDelta

from .convert import Json, usage_from_api

logger = logging.getLogger(__name__)

_JSON_INPUT_BLOCKS = ("tool_use", "server_tool_use", "mcp_tool_use")


class StreamAccumulator:
    """Feed raw events in order with `feed`; read `blocks`, `usage`, `stop_reason` after message_stop."""

    def __init__(self) -> None:
        self._blocks: dict[int, Json] = {}
        self._partial_json: dict[int, list[str]] = {}
        self._start_usage: Json | None = None
        self._delta_usage: Json | None = None
        self.message_id: str = ""
        self.model: str = ""
        self.stop_reason: str | None = None
        self.stopped = False
        # True once any delta was produced: a retry after that must tell clients to drop what they showed.
        self.emitted = False

    @property
    def blocks(self) -> list[Json]:
        return [self._blocks[i] for i in sorted(self._blocks)]

    @property
    def usage(self) -> Usage:
        return usage_from_api(self._start_usage, self._delta_usage)

    def feed(self, event: Json) -> StreamDelta | None:
        delta = self._feed(event)
        if delta is not None:
            self.emitted = True
        return delta

    def _feed(self, event: Json) -> StreamDelta | None:
        kind = event.get("type")
        if kind == "message_start":
            message: Json = event.get("message") or {}
            self.message_id = str(message.get("id", ""))
            self.model = str(message.get("model", ""))
            self._start_usage = message.get("usage")
        elif kind == "content_block_start":
            return self._start_block(int(event["index"]), dict(event.get("content_block") or {}))
        elif kind == "content_block_delta":
            return self._delta(int(event["index"]), event.get("delta") or {})
        elif kind == "content_block_stop":
            self._stop_block(int(event["index"]))
        elif kind == "message_delta":
            delta: Json = event.get("delta") or {}
            self.stop_reason = delta.get("stop_reason") or self.stop_reason
            self._delta_usage = event.get("usage")
        elif kind == "message_stop":
            self.stopped = True
        return None

    def _start_block(self, index: int, block: Json) -> StreamDelta | None:
        self._blocks[index] = block
        if block.get("type") in _JSON_INPUT_BLOCKS:
            self._partial_json[index] = []
            # Announce the call at once so clients can show "running Bash..." before its input arrives.
            data = {"id": block.get("id", ""), "name": block.get("name", ""), "type": block.get("type")}
            return StreamDelta(kind="tool_input", text="", index=index, data=data)
        return None

    def _delta(self, index: int, delta: Json) -> StreamDelta | None:
        block = self._blocks.setdefault(index, {"type": "text", "text": ""})
        kind = delta.get("type")
        if kind == "text_delta":
            piece = str(delta.get("text", ""))
            block["text"] = str(block.get("text", "")) + piece
            return StreamDelta(kind="text", text=piece, index=index)
        if kind == "thinking_delta":
            piece = str(delta.get("thinking", ""))
            block["thinking"] = str(block.get("thinking", "")) + piece
            return StreamDelta(kind="thinking", text=piece, index=index)
        if kind == "signature_delta":
            block["signature"] = str(block.get("signature", "")) + str(delta.get("signature", ""))
            return None
        if kind == "input_json_delta":
            piece = str(delta.get("partial_json", ""))
            self._partial_json.setdefault(index, []).append(piece)
            data = {"id": block.get("id", ""), "name": block.get("name", ""), "type": block.get("type")}
            return StreamDelta(kind="tool_input", text=piece, index=index, data=data)
        if kind == "citations_delta":
            citations: list[Any] = block.setdefault("citations", [])
            citations.append(delta.get("citation"))
        return None

    def _stop_block(self, index: int) -> None:
        pieces = self._partial_json.pop(index, None)
        if pieces is None:
            return
        raw = "".join(pieces)
        block = self._blocks[index]
        if not raw:
            block["input"] = block.get("input") or {}
            return
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError:
            # Truncated by max_tokens: the tool layer reports the missing fields back to the model.
            logger.warning("tool input for %s is not valid JSON (%s chars); using {}", block.get("name"), len(raw))
            parsed = {}
        block["input"] = parsed if isinstance(parsed, dict) else {}
