"""How a host paces the session event stream. Here, not beside the SSE route, because the host adapters (Lambda
behind API Gateway, the streaming container) choose it and must not import the API to do so."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamConfig:
    heartbeat_s: float = 15.0
    # Close a live stream after this long (Lambda Web Adapter must end before its timeout); None = never.
    max_s: float | None = None
    poll_s: float = 1.0
    retry_ms: int = 1000
    # Buffered hosts (Mangum) cannot stream: every request answers in poll mode.
    buffered: bool = False
    # Buffered hosts: a stream request with nothing new holds this long before answering (long-poll), so a
    # watching client costs one request per event burst or per long_poll_s, not one per retry_ms.
    long_poll_s: float = 0.0
