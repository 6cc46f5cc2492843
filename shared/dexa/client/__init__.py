"""Python client for the Dexa HTTP API, and the terminal clients built on it (attach, chat).

Names load on first use: `dexa.client.errors` alone (what an attached `dexa run -p` imports) must not bring httpx
and the API schemas in with DexaClient.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dexa.core.lazy import lazy_exports

if TYPE_CHECKING:
    from .api import DexaClient, operations
    from .connect import connect, default_server, resolve_token
    from .errors import error_from

__all__ = ["DexaClient", "connect", "default_server", "error_from", "operations", "resolve_token"]
_MODULE = {
    "DexaClient": ".api",
    "operations": ".api",
    "connect": ".connect",
    "default_server": ".connect",
    "resolve_token": ".connect",
    "error_from": ".errors",
}


__getattr__ = lazy_exports(__name__, _MODULE)
