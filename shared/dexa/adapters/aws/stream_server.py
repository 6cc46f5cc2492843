"""True push for event streams: how the event-stream function's server paces SSE and where it listens.

API Gateway REST routes `GET /sessions/{id}/events` to a function whose handler is `functions/api_stream/run.sh`
(`exec python -m dexa.cloud.stream`: the same FastAPI app under uvicorn); the Lambda Web Adapter extension
(AWS_LWA_INVOKE_MODE=response_stream) forwards the request to that server and streams its body back as it is
written. The stream
re-reads the event log every LIVE_POLL_S (appends come from other functions, so no in-process wake-up reaches it),
sends a heartbeat comment under API Gateway's idle timeout, and closes before Lambda's 15 minutes with `retry:`, so
the client resumes with Last-Event-ID: the same SSE protocol as `dexa serve` and the buffered API function.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Final

from dexa.core.errors import ConfigError

logger = logging.getLogger(__name__)

ENV_PORT: Final = "AWS_LWA_PORT"  # the adapter's own setting; it forwards requests to this port
DEFAULT_PORT: Final = 8080
# Under API Gateway's 5-minute idle timeout for streamed responses (regional endpoints), and well under Lambda's
# 15-minute maximum: the stream ends with `retry:` and the client resumes.
HEARTBEAT_S: Final = 15.0
MAX_STREAM_S: Final = 14 * 60.0
LIVE_POLL_S: Final = 0.1


def live_stream() -> Any:
    from dexa.core.streaming import StreamConfig

    return StreamConfig(buffered=False, heartbeat_s=HEARTBEAT_S, max_s=MAX_STREAM_S, poll_s=LIVE_POLL_S, retry_ms=250)


def port_from_env(env: dict[str, str] | os._Environ[str] = os.environ) -> int:
    raw = env.get(ENV_PORT) or str(DEFAULT_PORT)
    try:
        port = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{ENV_PORT} must be a port number, not {raw!r}") from exc
    if not 0 < port < 65536:
        raise ConfigError(f"{ENV_PORT} must be a port number, not {raw!r}")
    return port
