"""Python client for the Dexa HTTP API, and the terminal clients built on it (attach, chat).

Names load on first use: `dexa.client.errors` alone (what an attached `dexa run -p` imports) must not bring httpx
and the API schemas in with DexaClient.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api import DexaClient, operations
    from .connect import connect, default_server, resolve_token
    from .errors import error_from

__all__ = ["DexaClient", "connect", "default_server", "error_from", "operations", "resolve_token"]
_MODULE = {
    "DexaClient": "api",
    "operations": "api",
    "connect": "connect",
    "default_server": "connect",
    "resolve_token": "connect",
    "error_from": "errors",
}


def __getattr__(name: str) -> Any:
    module = _MODULE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
