"""EMULATION: the transport of the fake `modal` package: JSON over HTTP to the stand-in server (server.py).

Every SDK call is a blocking function; `.aio` runs it on a private thread pool, the way Modal's synchronicity
layer offers both forms of one method.
"""

from __future__ import annotations

import asyncio
import functools
import http.client
import inspect
import json
import os
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from . import exception

_POOL = ThreadPoolExecutor(max_workers=64, thread_name_prefix="modal-standin")


class _Bound:
    def __init__(self, fn: Callable[..., Any]) -> None:
        self._fn = fn
        self.__signature__ = inspect.signature(fn)
        self.__doc__ = fn.__doc__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._fn(*args, **kwargs)

    async def aio(self, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_POOL, functools.partial(self._fn, *args, **kwargs))


class dual:
    """A method (or staticmethod) callable directly and as `.aio`."""

    def __init__(self, fn: Any) -> None:
        self._fn = fn

    def __get__(self, obj: Any, objtype: Any = None) -> _Bound:
        return _Bound(self._fn.__get__(obj, objtype))


def _check_token() -> None:
    if os.environ.get("MODAL_TOKEN_ID") and os.environ.get("MODAL_TOKEN_SECRET"):
        return
    config = os.environ.get("MODAL_CONFIG_PATH") or os.path.expanduser("~/.modal.toml")
    if not os.path.isfile(config):
        raise exception.AuthError("Token missing. Could not authenticate client (Modal stand-in).")


def call(path: str, body: dict[str, Any] | None = None, *, timeout: float = 120.0) -> dict[str, Any]:
    """POST to the stand-in; an error reply becomes the modal.exception class it names."""
    _check_token()
    # MODAL_SERVER_URL is Modal's own setting for its API endpoint; either name points at the stand-in.
    url = os.environ.get("MODAL_STANDIN_URL") or os.environ.get("MODAL_SERVER_URL", "")
    if not url.startswith("http://"):
        raise exception.ConnectionError("Modal stand-in not configured: set MODAL_STANDIN_URL (or MODAL_SERVER_URL)")
    parsed = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port or 80, timeout=timeout)
    try:
        data = json.dumps(body or {}).encode()
        conn.request("POST", path, body=data, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        doc = json.loads(resp.read() or b"{}")
    except OSError as exc:
        raise exception.ConnectionError(f"Modal stand-in at {url} unreachable: {exc}") from exc
    finally:
        conn.close()
    if resp.status >= 400:
        cls = getattr(exception, str(doc.get("error")), exception.Error)
        if not (isinstance(cls, type) and issubclass(cls, exception.Error)):
            cls = exception.Error
        raise cls(doc.get("message", ""))
    return doc
