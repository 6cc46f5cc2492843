"""Session summaries and share links.

Summarize asks the session's model with the engine's own compaction prompt and request shape, and leaves the
history as it is (POST .../compact is the one that rewrites it). A share link opens one session read-only, as JSON at
/shared/{token} or as a page at /shared/{token}/view, with no API key: signed, expiring and revocable
(dexa.api.shares).
"""

from __future__ import annotations

import html
import time
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import HTMLResponse

from dexa.api.deps import ApiContext, Ctx, Reader, Writer, problems
from dexa.api.problems import problem_content
from dexa.api.schemas.shares import (
    ShareCreate,
    ShareCreated,
    SharedMessage,
    SharedSession,
    SharePublic,
    SharesPublic,
    SummaryPublic,
)
from dexa.api.shares import Share, ShareLinks
from dexa.core.errors import ConfigError, ConflictError
from dexa.core.messages import Message, TextBlock
from dexa.core.ports import ModelRequest
from dexa.core.steps_model import SUMMARY_PROMPT

router = APIRouter(prefix="/sessions", tags=["shares"])
public_router = APIRouter(tags=["shares"])
SUMMARIES = "session_summaries"
TokenPath = Annotated[str, Path(min_length=1, max_length=2000)]
_GONE: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "No such live share link (unknown, expired, revoked or altered)",
        "content": problem_content(),
    },
    422: {"description": "The token is not a string of the allowed length", "content": problem_content()},
}
# The page route's default media type is HTML; its errors are problem+json like every other route's.
_PAGE: dict[int | str, dict[str, Any]] = {200: {"content": {"text/html": {"schema": {"type": "string"}}}}, **_GONE}


def _public(share: Share, now: float) -> SharePublic:
    status = "revoked" if share.revoked_at is not None else "expired" if now > share.expires_at else "active"
    return SharePublic(
        id=share.id,
        session_id=share.session_id,
        created_by=share.created_by,
        created_at=share.created_at,
        expires_at=share.expires_at,
        revoked_at=share.revoked_at,
        status=status,
    )


@router.post("/{session_id}/summarize", response_model=SummaryPublic, responses=problems(404, 409))
async def summarize(session_id: str, ctx: Ctx, who: Writer) -> SummaryPublic:
    """A summary of the visible conversation by the session's model (the compaction prompt); the history is left
    unchanged. Kept as the session's latest summary, which share links show. 409 while a turn is in flight."""
    session = await ctx.session(who, session_id)
    if session.turn_state is not None or ctx.runtime.driver.is_running(session_id):
        raise ConflictError("a turn is in flight: summarize once it is over", code="session_busy")
    messages = await ctx.runtime.store.list_messages(session_id)
    if not messages:
        raise ConfigError("the session has no messages to summarize yet", code="empty_session")
    env = await ctx.call(ctx.runtime.engine.envs.env_for, session)
    request = ModelRequest(
        model=env.model.name,
        system="You write faithful, compact summaries of agent conversations.",
        messages=(*messages, Message(id="summary-q", role="user", content=(TextBlock(text=SUMMARY_PROMPT),))),
        max_tokens=4096,
        response_id=f"summary-{int(time.time() * 1000)}",
    )
    response = await ctx.call(env.model.complete, request)
    out = SummaryPublic(
        session_id=session_id,
        summary=response.message.text,
        messages=len(messages),
        model=env.model.name,
        created_at=time.time(),
    )
    await ctx.runtime.store.kv_put(SUMMARIES, session_id, out.model_dump(), org_id=who.org_id)
    return out


@router.post("/{session_id}/shares", status_code=201, response_model=ShareCreated, responses=problems(404))
async def create_share(session_id: str, body: ShareCreate, ctx: Ctx, who: Writer, request: Request) -> ShareCreated:
    """A read-only link to this session for anyone holding it, until it expires or is revoked."""
    await ctx.session(who, session_id)
    share, token = await ShareLinks(ctx.runtime.store).create(
        who.org_id, session_id, by=who.user_id, ttl_s=body.expires_in_s
    )
    await ctx.audit.append(who, "session.share", session_id, {"share_id": share.id, "expires_at": share.expires_at})
    url = str(request.url_for("open_share", token=token))
    return ShareCreated(**_public(share, time.time()).model_dump(), token=token, url=url)


@router.get("/{session_id}/shares", response_model=SharesPublic, responses=problems(404))
async def list_shares(session_id: str, ctx: Ctx, who: Reader) -> SharesPublic:
    """The session's share links, newest first, with their status (tokens are shown only when created)."""
    await ctx.session(who, session_id)
    now = time.time()
    rows = [_public(s, now) for s in await ShareLinks(ctx.runtime.store).list(who.org_id, session_id)]
    return SharesPublic(data=rows, count=len(rows))


@router.delete("/{session_id}/shares/{share_id}", response_model=SharePublic, responses=problems(404))
async def revoke_share(session_id: str, share_id: str, ctx: Ctx, who: Writer) -> SharePublic:
    """Revoke a link: it answers 404 from now on (idempotent)."""
    await ctx.session(who, session_id)
    share = await ShareLinks(ctx.runtime.store).revoke(who.org_id, session_id, share_id)
    await ctx.audit.append(who, "session.unshare", session_id, {"share_id": share_id})
    return _public(share, time.time())


async def _shared(ctx: ApiContext, token: str) -> SharedSession:
    share = await ShareLinks(ctx.runtime.store).open(token)
    store = ctx.runtime.store
    session = await store.get_session(share.session_id, org_id=share.org_id)
    rows: list[SharedMessage] = []
    for m in await store.list_messages(session.id):
        tools = [u.name for u in m.tool_uses]
        if m.text or tools:  # a user message holding only tool results says nothing a reader needs
            rows.append(SharedMessage(id=m.id, role=m.role, text=m.text, tools=tools, synthetic=m.synthetic))
    summary = await store.kv_get(SUMMARIES, session.id, org_id=share.org_id)
    return SharedSession(
        id=session.id,
        title=session.title,
        model=session.model,
        created_at=session.created_at,
        updated_at=session.updated_at,
        expires_at=share.expires_at,
        summary=None if summary is None else str(summary.get("summary") or ""),
        messages=rows,
    )


@public_router.get("/shared/{token}", response_model=SharedSession, responses=_GONE)
async def open_share(token: TokenPath, ctx: Ctx, response: Response) -> SharedSession:
    """The shared session as JSON. No API key: the signed token is the credential."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return await _shared(ctx, token)


@public_router.get(
    "/shared/{token}/view",
    response_class=HTMLResponse,
    responses=_PAGE,
)
async def view_share(token: TokenPath, ctx: Ctx) -> HTMLResponse:
    """The shared session as a read-only web page (no scripts; everything escaped)."""
    shared = await _shared(ctx, token)
    return HTMLResponse(
        render_page(shared),
        headers={
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
            "X-Content-Type-Options": "nosniff",
        },
    )


def render_page(shared: SharedSession) -> str:
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><meta name='robots' content='noindex'>",
        f"<title>{esc(shared.title or shared.id)} · Dexa (shared, read-only)</title>",
        "<style>body{font:15px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem}"
        ".m{border-left:3px solid #ccc;padding:.2rem .8rem;margin:1rem 0;white-space:pre-wrap}"
        ".user{border-color:#4a7}.assistant{border-color:#47a}.tools{color:#666;font-size:13px}"
        ".note{color:#666}</style></head><body>",
        f"<h1>{esc(shared.title or 'Shared session')}</h1>",
        f"<p class='note'>Read-only · model {esc(shared.model)} · link expires "
        f"{esc(time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(shared.expires_at)))}</p>",
    ]
    if shared.summary:
        parts.append(f"<h2>Summary</h2><div class='m'>{esc(shared.summary)}</div>")
    for m in shared.messages:
        tools = f"<div class='tools'>tools: {esc(', '.join(m.tools))}</div>" if m.tools else ""
        parts.append(f"<div class='m {esc(m.role)}'><b>{esc(m.role)}</b>\n{esc(m.text)}{tools}</div>")
    parts.append("</body></html>")
    return "".join(parts)
