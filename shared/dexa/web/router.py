"""create_web_router: `/` and `/ui/...` serve the app shell, `/ui/static/...` the modules, `/ui/login` the cookie."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import APIRouter, Body, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from dexa.api.csrf import check_cookie_write
from dexa.api.deps import COOKIE_NAME
from dexa.api.mount import mount_root
from dexa.auth.browser import close_session, open_session
from dexa.core.errors import PermissionDeniedError

from .handoff import HandoffCodes, TokenSource, clear_token_cookie, hand_off, set_token_cookie
from .shell import render_shell, ui_config
from .static_files import STATIC_DIR, StaticFiles

logger = logging.getLogger(__name__)

# The UI talks only to its own origin and runs only its own files.
SECURITY_HEADERS: Final[dict[str, str]] = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    # Approval links carry a signed token in the query: never leak it to another site.
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def _ctx(request: Request) -> Any:
    return getattr(request.app.state, "dexa", None)


async def _valid(request: Request, token: str) -> bool:
    ctx = _ctx(request)
    if ctx is None:
        return False
    try:
        await ctx.auth.authenticate(token)
    except PermissionDeniedError:
        return False
    return True


def create_web_router(
    *,
    local_token: TokenSource | None = None,
    handoff_codes: HandoffCodes | None = None,
    static_dir: Path | None = None,
    cache_static: bool = True,
) -> APIRouter:
    """The web UI's routes (all excluded from the OpenAPI document).

    Args:
        local_token: returns this machine's API key (e.g. `lambda: read_local_token(home)`); when given with
            handoff_codes, a browser on this machine that opens a URL with a one-time code is handed it as a
            cookie. Leave None on shared or cloud deployments.
        handoff_codes: the one-time codes `dexa serve` prints (`/?code=...`); without them nobody is handed a key.
        static_dir: serve the UI from another directory (tests); default: the package's files.
        cache_static: keep files in memory after the first read (off while editing the UI).
    """
    files = StaticFiles(static_dir or STATIC_DIR, cache=cache_static)
    router = APIRouter(include_in_schema=False)
    pages: dict[tuple[str, str], str] = {}

    def page_for(version: str, root: str) -> str:
        page = pages.get((version, root))
        if page is None:
            config = ui_config(version=version, local=local_token is not None, root=root)
            page = render_shell(config, files.names())
            if cache_static:
                pages[(version, root)] = page
        return page

    async def shell(request: Request) -> HTMLResponse:
        page = page_for(str(getattr(_ctx(request), "version", "0")), mount_root(request))
        response = HTMLResponse(page, headers={**SECURITY_HEADERS, "Cache-Control": "no-store"})
        await hand_off(request, response, local_token, lambda t: _valid(request, t), handoff_codes)
        return response

    @router.get("/ui/static/{path:path}")
    async def ui_static(path: str, request: Request) -> Response:
        return files.response(request, path, SECURITY_HEADERS)

    @router.post("/ui/login", status_code=204)
    async def ui_login(
        request: Request, token: Annotated[str, Body(embed=True, min_length=8, max_length=400)]
    ) -> Response:
        """Check a pasted API key and keep it as the HttpOnly cookie the API reads."""
        check_cookie_write(request)  # another origin must not log this browser in as someone else
        ctx = _ctx(request)
        if ctx is None or not await _valid(request, token.strip()):
            raise PermissionDeniedError("that API key is missing, revoked or unknown", code="unauthenticated")
        # The cookie gets a session key of its own (dexa.auth.browser), never the pasted key.
        session = await open_session(ctx.auth, token.strip())
        response = Response(status_code=204, headers={"Cache-Control": "no-store"})
        set_token_cookie(request, response, session)
        return response

    @router.post("/ui/logout", status_code=204)
    async def ui_logout(request: Request) -> Response:
        """Forget the cookie and end its session key (a pasted or local key is left alone)."""
        ctx, current = _ctx(request), request.cookies.get(COOKIE_NAME)
        if ctx is not None and current:
            await close_session(ctx.auth, current)
        response = Response(status_code=204, headers={"Cache-Control": "no-store"})
        clear_token_cookie(response)
        return response

    @router.get("/outputs/review")
    async def approval_link(request: Request) -> RedirectResponse:
        """Where ApprovalLinks.url points: the review queue with the signed token."""
        query = request.url.query
        return RedirectResponse(
            mount_root(request) + "/ui/review" + (f"?{query}" if query else ""),
            status_code=307,
            headers={"Referrer-Policy": "no-referrer"},
        )

    router.add_api_route("/", shell, methods=["GET"], response_class=HTMLResponse)
    router.add_api_route("/ui", shell, methods=["GET"], response_class=HTMLResponse)
    router.add_api_route("/ui/{rest:path}", shell, methods=["GET"], response_class=HTMLResponse)
    return router
