"""Local mode: one org, one admin user and a token file under DEXA_HOME, created on first run.

The ids equal dexa.wiring.LOCAL_ORG / LOCAL_USER so sessions made by `dexa run` and by `dexa serve` are the same
org's sessions (a test pins the equality; auth must not import wiring, which is the outer layer).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Final

from dexa.core.errors import ConflictError, NotFoundError, PermissionDeniedError

from .service import AuthService

logger = logging.getLogger(__name__)

LOCAL_ORG: Final = "org_local"
LOCAL_USER: Final = "usr_local"
TOKEN_FILE: Final = "token"


def token_path(home: Path) -> Path:
    return home / TOKEN_FILE


def read_local_token(home: Path) -> str | None:
    """The token `dexa serve` wrote, or None. DEXA_TOKEN in the environment wins (the caller checks it)."""
    path = token_path(home)
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


async def bootstrap_local(auth: AuthService, home: Path) -> str:
    """Make sure the local org, admin user and a working token file exist; return the token."""
    existing = read_local_token(home)
    if existing is not None:
        try:
            await auth.authenticate(existing)
            return existing
        except PermissionDeniedError:
            logger.warning("token file %s no longer authenticates; minting a new key", token_path(home))
    try:
        await auth.get_org(LOCAL_ORG)
    except NotFoundError:
        try:
            await auth.create_org("local", org_id=LOCAL_ORG)
        except ConflictError:  # another process bootstrapped at the same moment
            pass
    try:
        await auth.get_user(LOCAL_ORG, LOCAL_USER)
    except NotFoundError:
        try:
            await auth.create_user(LOCAL_ORG, os.environ.get("USER", "local"), "admin", user_id=LOCAL_USER)
        except ConflictError:
            pass
    _, token = await auth.create_key(LOCAL_ORG, LOCAL_USER, "local")
    _write_token(home, token)
    return token


def _write_token(home: Path, token: str) -> None:
    path = token_path(home)
    home.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    # Written 0600 from the start: the token is an admin credential for this machine's server.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    tmp.replace(path)
