"""GET /sessions/{id}/events: the session's event log as server-sent events, live or in poll mode."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query
from fastapi.responses import Response
from sse_starlette import EventSourceResponse
from sse_starlette.event import ServerSentEvent

from dexa.api.deps import Ctx, Reader, problems
from dexa.api.sse import live_frames, poll_body

router = APIRouter(prefix="/sessions", tags=["events"])

SSE_MEDIA_TYPE = "text/event-stream"
NO_CACHE = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _heartbeat() -> ServerSentEvent:
    return ServerSentEvent(comment="heartbeat")


@router.get(
    "/{session_id}/events",
    response_class=Response,
    responses={
        200: {
            "description": "Server-sent events. `id:` is the event seq, `event:` its type, `data:` an EventPublic",
            "content": {SSE_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/SseFrame"}}},
        },
        **problems(404),
    },
)
async def events(
    session_id: str,
    ctx: Ctx,
    who: Reader,
    after: Annotated[int | None, Query(ge=0, le=2**53, description="Replay events with seq > after")] = None,
    mode: Annotated[Literal["stream", "poll"], Query(description="poll: answer with what is available")] = "stream",
    wait: Annotated[
        float | None,
        Query(
            ge=0,
            le=25,
            description="poll mode: wait this long for a first event (default 0; on a buffered host a stream "
            "request long-polls for the server's configured time)",
        ),
    ] = None,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID", pattern=r"^[0-9]{1,16}$", description="Resume after this seq (wins over ?after=)"
        ),
    ] = None,
) -> Response:
    """Stream the session's events: history after the cursor first, then live ones, with heartbeat comments.

    A reconnect with Last-Event-ID (browsers send it automatically) resumes exactly after that event. In poll
    mode, or on a buffered host (Lambda), the answer holds what is available and ends with `retry:`; reconnecting
    with the last id continues the same stream.
    """
    await ctx.session(who, session_id)
    cursor = int(last_event_id) if last_event_id is not None else (after or 0)
    log = ctx.runtime.store
    if mode == "poll" or ctx.stream.buffered:
        if wait is None:
            wait = ctx.stream.long_poll_s if mode == "stream" else 0.0
        body = await poll_body(log, ctx.hub, session_id, cursor, wait_s=wait, cfg=ctx.stream)
        return Response(body, media_type=SSE_MEDIA_TYPE, headers=NO_CACHE)
    return EventSourceResponse(
        live_frames(log, ctx.hub, session_id, cursor, ctx.stream),
        headers=NO_CACHE,
        ping=ctx.stream.heartbeat_s,
        ping_message_factory=_heartbeat,
    )
