"""The event-stream function's server: the API app under uvicorn with live SSE, for the Lambda Web Adapter.

`functions/api_stream/run.sh` runs `python -m dexa.cloud.stream`; the adapter (AWS_LWA_INVOKE_MODE=response_stream)
forwards each request to it and streams the body back as it is written. How the stream is paced (poll, heartbeat,
maximum length) and which port it listens on are dexa.adapters.aws.stream_server's.

Run locally the way the adapter runs it: `AWS_LWA_PORT=8080 python -m dexa.cloud.stream`.
"""

from __future__ import annotations

from typing import Any

from dexa.adapters.aws.stream_server import live_stream, port_from_env


def create_stream_app() -> Any:
    """The full app over the cloud runtime (every route works; only the events route is sent here)."""
    from dexa.server_app import build_app
    from dexa.wiring import Runtime

    from .lambdas import cloud_runtime

    runtime = cloud_runtime()
    if not isinstance(runtime, Runtime):
        from dexa.api import create_app

        return create_app(runtime, stream=live_stream())
    return build_app(runtime, stream=live_stream())


def main() -> None:
    import uvicorn

    port = port_from_env()
    # Only the adapter, in the same sandbox, talks to this server.
    uvicorn.run(create_stream_app(), host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
