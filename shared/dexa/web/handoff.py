"""How a browser gets its API key: an HttpOnly cookie the API already accepts (`dexa_token`).

Two ways in:
- Local hand-off: `dexa serve` prints `http://127.0.0.1:PORT/?code=...`. A page request carrying a valid, unused,
  unexpired one-time code, that provably comes from this machine's own browser (loopback peer, loopback Host, no
  proxy headers), gets the local token as a cookie; the code is spent. Being on loopback is not enough on its own:
  a sandbox with network, or any local process, reaches 127.0.0.1 too, but never sees the server's stdout. The Host
  check stops DNS rebinding; the proxy-header check stops a reverse proxy on the same host from relaying it.
- Login: POST /ui/login with a key (pasted into the login page) sets the same cookie after checking it.

The cookie is HttpOnly (page scripts and injected code never see the key) and SameSite=Strict; cookie-authenticated
writes also need a same-origin Origin (dexa.api.csrf), since another localhost port is the same site.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Final

from starlette.requests import Request
from starlette.responses import Response

from dexa.api.deps import COOKIE_NAME

LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
PROXY_HEADERS: Final = ("x-forwarded-for", "x-forwarded-host", "forwarded", "x-real-ip")
COOKIE_MAX_AGE: Final = 30 * 24 * 3600

CODE_TTL_S: Final = 15 * 60

TokenSource = Callable[[], str | None]


class HandoffCodes:
    """One-time codes for the local hand-off, kept in this server's memory (only their hashes).

    A code is spent by its first use, valid or not for the cookie, and dies after `ttl_s`; a restart forgets all.
    """

    def __init__(self, *, ttl_s: float = CODE_TTL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(code: str) -> str:
        return hashlib.sha256(code.encode("utf-8", "replace")).hexdigest()

    def issue(self) -> str:
        code = secrets.token_urlsafe(24)
        now = self._clock()
        with self._lock:
            self._expiry = {k: t for k, t in self._expiry.items() if t > now}
            self._expiry[self._key(code)] = now + self.ttl_s
        return code

    def redeem(self, code: str) -> bool:
        """True once for a code this server issued and that has not expired."""
        with self._lock:
            expiry = self._expiry.pop(self._key(code), None)
        return expiry is not None and expiry > self._clock()


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
    request: Request,
    response: Response,
    local_token: TokenSource | None,
    valid: Callable[[str], Awaitable[bool]],
    codes: HandoffCodes | None = None,
) -> bool:
    """Give this machine's browser the local token when it brings a valid one-time code, unless it already carries a
    working key (a reviewer who logged in keeps their own identity); True when a cookie was set."""
    code = request.query_params.get("code")
    if local_token is None or codes is None or not code or not is_local_browser(request):
        return False
    current = request.cookies.get(COOKIE_NAME)
    if current and await valid(current):
        return False
    if not codes.redeem(code):
        return False
    token = local_token()
    if not token:
        return False
    set_token_cookie(request, response, token)
    return True
