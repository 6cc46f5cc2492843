"""Python client for the Dexa HTTP API, and the terminal clients built on it (attach, chat)."""

from .api import DexaClient, operations
from .connect import connect, default_server, resolve_token
from .errors import error_from

__all__ = ["DexaClient", "connect", "default_server", "error_from", "operations", "resolve_token"]
