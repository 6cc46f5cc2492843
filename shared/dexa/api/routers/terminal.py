"""A terminal into the session's workspace over a WebSocket: a shell on a pty inside the session's own sandbox
(bubblewrap locally, with the session's network policy), never on the control plane host.

Open `GET /sessions/{id}/terminal` as a WebSocket, authenticated by `Authorization: Bearer <key>` or, from a browser,
`?ticket=` from POST /sessions/{id}/terminal/tickets (cookies are not accepted: any site could open a socket with
them). Frames are JSON text. Client: {"type": "input", "data"}, {"type": "resize", "cols", "rows"}, {"type":
"close"}. Server: {"type": "ready", "cols", "rows"}, {"type": "output", "data"}, {"type": "exit", "code"}. Refusals
close with 4401 (no or bad credentials), 4403 (the key may not write sessions), 4404 (no such session in the
caller's org), 4429 (rate limit, or the session's 8 terminals are open), 4501 (this workspace has no
terminal); the reason names the cause.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from dexa.api.deps import ApiContext, Ctx, Writer, problems
from dexa.api.problems import status_for
from dexa.api.schemas.terminal import TerminalInput, TerminalTicket
from dexa.api.tickets import TerminalTickets
from dexa.auth.models import ROLE_SCOPES, Principal
from dexa.auth.service import unauthenticated
from dexa.core.errors import DexaError, NotFoundError, PermissionDeniedError

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/sessions", tags=["terminal"])
SCOPE = "sessions:write"
OPEN_TERMINALS = "open_terminals"
# Each terminal is a sandboxed shell with its own processes: a cap keeps one session from piling them up.
MAX_TERMINALS = 8


@router.post("/{session_id}/terminal/tickets", response_model=TerminalTicket, responses=problems(404))
async def create_terminal_ticket(session_id: str, ctx: Ctx, who: Writer, request: Request) -> TerminalTicket:
    """A single-use ticket (one minute) for opening the terminal WebSocket from a browser.

    The terminal itself is `GET /sessions/{session_id}/terminal` as a WebSocket (OpenAPI has no WebSocket
    operations): a shell on a pty inside the session's sandbox. Authenticate with `Authorization: Bearer` or
    `?ticket=`; optional `?cols=&rows=`. JSON text frames: send {"type": "input", "data"}, {"type": "resize",
    "cols", "rows"} or {"type": "close"}; receive {"type": "ready"}, {"type": "output", "data"} and finally
    {"type": "exit", "code"}. Refusals close with 4401, 4403, 4404, 4429 or 4501 and a reason."""
    await ctx.session(who, session_id)
    ticket, expires = await TerminalTickets(ctx.runtime.store).issue(
        org_id=who.org_id, session_id=session_id, user_id=who.user_id, key_id=who.key_id
    )
    url = request.url_for("terminal", session_id=session_id).include_query_params(ticket=ticket)
    scheme = "wss" if url.scheme == "https" else "ws"
    return TerminalTicket(ticket=ticket, expires_at=expires, url=str(url.replace(scheme=scheme)))


async def _ticket_principal(ctx: ApiContext, ticket: str, session_id: str) -> Principal:
    """The ticket's key, still live (a key revoked or a user disabled since the ticket was issued is refused)."""
    claims = await TerminalTickets(ctx.runtime.store).redeem(ticket, session_id)
    try:
        key = await ctx.auth.get_key(claims.org_id, claims.key_id)
        user = await ctx.auth.get_user(claims.org_id, claims.user_id)
    except NotFoundError:
        raise unauthenticated() from None
    if key.revoked or key.expired(time.time()) or user.disabled or key.user_id != user.id:
        raise unauthenticated()
    scopes = frozenset(key.scopes) & ROLE_SCOPES[user.role]
    return Principal(org_id=key.org_id, user_id=user.id, role=user.role, key_id=key.id, scopes=scopes)


async def _principal(ctx: ApiContext, websocket: WebSocket, session_id: str, ticket: str | None) -> Principal:
    header = websocket.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token:
        who = await ctx.auth.authenticate(token.strip())
    elif ticket:
        who = await _ticket_principal(ctx, ticket, session_id)
    else:
        raise unauthenticated("missing credentials: send `Authorization: Bearer <key>` or ?ticket=")
    if ctx.limiter.take(who.org_id):
        raise DexaError(f"rate limit exceeded for org {who.org_id}", code="rate_limited")
    if not who.can(SCOPE):
        raise PermissionDeniedError(f"this key (role {who.role}) lacks the {SCOPE!r} scope", code="forbidden")
    return who


async def _pump_out(ctx: ApiContext, websocket: WebSocket, pty: Any) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    while True:
        chunk: bytes = await ctx.call(pty.read)
        if not chunk:
            break
        text = decoder.decode(chunk)
        if text:
            await websocket.send_json({"type": "output", "data": text})
    code = await ctx.call(pty.wait)
    await websocket.send_json({"type": "exit", "code": code})


async def _pump_in(ctx: ApiContext, websocket: WebSocket, pty: Any) -> None:
    async def write(data: bytes) -> None:
        pty.write(data)

    async def resize(cols: int, rows: int) -> None:
        pty.resize(cols, rows)

    while True:
        try:
            msg = TerminalInput.model_validate_json(await websocket.receive_text())
        except ValidationError as exc:
            await websocket.send_json({"type": "error", "message": f"bad message: {exc.errors()[0]['msg']}"})
            continue
        if msg.type == "input":
            await ctx.call(write, msg.data.encode())
        elif msg.type == "resize":
            await ctx.call(resize, msg.cols, msg.rows)
        else:
            return


@router.websocket("/{session_id}/terminal", name="terminal")
async def terminal(
    websocket: WebSocket,
    session_id: str,
    ticket: Annotated[str | None, Query(max_length=2000)] = None,
    cols: Annotated[int, Query(ge=1, le=1000)] = 80,
    rows: Annotated[int, Query(ge=1, le=1000)] = 24,
) -> None:
    ctx: ApiContext = websocket.app.state.dexa
    await websocket.accept()
    try:
        who = await _principal(ctx, websocket, session_id, ticket)
        session = await ctx.session(who, session_id)
        env = await ctx.call(ctx.runtime.engine.envs.env_for, session)
        opener = getattr(env.workspace, "open_terminal", None)
        if opener is None:
            raise DexaError("this session's workspace offers no terminal", code="not_implemented")
        if env.services.get(OPEN_TERMINALS, 0) >= MAX_TERMINALS:
            raise DexaError(f"this session has {MAX_TERMINALS} terminals open; close one first", code="rate_limited")
        command_env = env.services.get("command_env") or {}
        pty = await ctx.call(opener, cwd=session.cwd, cols=cols, rows=rows, env=command_env)
    except DexaError as exc:
        await websocket.close(code=4000 + status_for(exc), reason=(exc.message or str(exc))[:120])
        return
    # Counted on the environment, so a configuration reload (an MCP server added) never closes an open terminal.
    env.services[OPEN_TERMINALS] = env.services.get(OPEN_TERMINALS, 0) + 1
    await ctx.audit.append(who, "session.terminal", session_id, {"cols": cols, "rows": rows})
    await websocket.send_json({"type": "ready", "cols": cols, "rows": rows})
    out = asyncio.ensure_future(_pump_out(ctx, websocket, pty))
    inp = asyncio.ensure_future(_pump_in(ctx, websocket, pty))
    try:
        await asyncio.wait({out, inp}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (out, inp):
            task.cancel()
        for result in await asyncio.gather(out, inp, return_exceptions=True):
            if isinstance(result, Exception) and not isinstance(result, WebSocketDisconnect | RuntimeError):
                logger.warning("terminal of session %s ended on %r", session_id, result)
        await ctx.call(pty.close)
        env.services[OPEN_TERMINALS] = max(0, env.services.get(OPEN_TERMINALS, 1) - 1)
        with contextlib.suppress(RuntimeError):  # already closed by the client
            await websocket.close()
