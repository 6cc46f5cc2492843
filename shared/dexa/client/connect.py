"""Where the server is and which key to use: flags, then DEXA_SERVER / DEXA_TOKEN, then the local token file."""

from __future__ import annotations

import os
from pathlib import Path

from dexa.auth.bootstrap import read_local_token

from .api import DexaClient

DEFAULT_SERVER = "http://127.0.0.1:4096"


def default_server() -> str:
    return os.environ.get("DEXA_SERVER") or DEFAULT_SERVER


def resolve_token(home: Path | None = None) -> str | None:
    token = os.environ.get("DEXA_TOKEN")
    if token:
        return token
    home = home or Path(os.environ.get("DEXA_HOME") or Path.home() / ".dexa")
    return read_local_token(home)


def connect(server: str | None = None, token: str | None = None) -> DexaClient:
    return DexaClient(server or default_server(), token or resolve_token())
