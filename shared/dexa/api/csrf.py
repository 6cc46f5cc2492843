"""Cross-site request defence for cookie-authenticated writes.

The browser sends the `dexa_token` cookie by itself, so a state-changing request that authenticates with it must
prove it comes from this origin: `Sec-Fetch-Site: same-origin`, or an `Origin` equal to the request's own.
SameSite=Strict is not enough on its own: another port on localhost is the same *site*, so a page served there
(or a sandbox's web server) could POST with the cookie. Bearer-token requests carry their credential explicitly
and are unaffected.
"""

from __future__ import annotations

from typing import Final

from starlette.requests import Request

from dexa.core.errors import PermissionDeniedError

SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})


def is_same_origin(request: Request) -> bool:
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site == "same-origin"
    origin = request.headers.get("origin")
    host = request.headers.get("host")
    if not origin or not host:
        return False
    return origin.lower() == f"{request.url.scheme}://{host}".lower()


def check_cookie_write(request: Request) -> None:
    """Raises PermissionDeniedError (403) for a cross-origin state-changing request."""
    if request.method in SAFE_METHODS or is_same_origin(request):
        return
    raise PermissionDeniedError(
        f"cross-origin {request.method} refused: a request authenticated by the dexa_token cookie must come from "
        "this origin (same-origin Origin or Sec-Fetch-Site header); API clients send `Authorization: Bearer`",
        code="forbidden",
    )
