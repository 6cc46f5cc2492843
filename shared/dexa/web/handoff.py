"""How a browser gets its API key: an HttpOnly cookie the API already accepts (`dexa_token`).

Two ways in:
- Local hand-off: `dexa serve` passes `local_token`; a page request that provably comes from this machine's own
  browser (loopback peer, loopback Host, no proxy headers) gets the local token as a cookie. The Host check stops
  DNS rebinding (a hostile page resolving its own name to 127.0.0.1); the proxy-header check stops a reverse proxy
  on the same host from handing the admin token to the whole network.
- Login: POST /ui/login with a key (pasted into the login page) sets the same cookie after checking it.

The cookie is HttpOnly (page scripts and injected code never see the key) and SameSite=Strict (another site
cannot make the browser send it, which is the API's CSRF defence for cookie-authenticated writes).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from typing import Final

from starlette.requests import Request
from starlette.responses import Response

from dexa.api.deps import COOKIE_NAME

LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
PROXY_HEADERS: Final = ("x-forwarded-for", "x-forwarded-host", "forwarded", "x-real-ip")
COOKIE_MAX_AGE: Final = 30 * 24 * 3600

TokenSource = Callable[[], str | None]


def _is_loopback_ip(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_name(request: Request) -> str:
    """The Host header without its port ("[::1]:4096" -> "[::1]")."""
    raw = (request.headers.get("host") or "").strip().lower()
    if raw.startswith("["):
        return raw.split("]", 1)[0] + "]"
    return raw.rsplit(":", 1)[0] if raw.count(":") == 1 else raw


def is_local_browser(request: Request) -> bool:
    """True only for a request from this machine, addressed to a loopback name, not relayed by a proxy."""
    peer = request.client.host if request.client else None
    if not _is_loopback_ip(peer) or host_name(request) not in LOOPBACK_HOSTS:
        return False
    return not any(h in request.headers for h in PROXY_HEADERS)


def set_token_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=COOKIE_MAX_AGE,
        httponly=True,
        samesite="strict",
        path="/",
        secure=request.url.scheme == "https",
    )


def clear_token_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict")


async def hand_off(
    request: Request, response: Response, local_token: TokenSource | None, valid: Callable[[str], Awaitable[bool]]
) -> bool:
    """Give the local browser the local token unless it carries a working key (a reviewer who logged in keeps
    their own identity); True when a cookie was set."""
    if local_token is None or not is_local_browser(request):
        return False
    current = request.cookies.get(COOKIE_NAME)
    if current and await valid(current):
        return False
    token = local_token()
    if not token:
        return False
    set_token_cookie(request, response, token)
    return True
