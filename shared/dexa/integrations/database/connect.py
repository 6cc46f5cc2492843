"""Connection strings: which engine, and where a SQLite file may live (what a message may say of one: dsn.py)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import unquote, urlsplit

from dexa.core.errors import ConfigError, PermissionDeniedError

from .base import Database

ROOTS_ENV = "DEXA_SQLITE_ROOTS"
_PG_SCHEMES = frozenset({"postgres", "postgresql"})


def engine_of(dsn: str) -> str:
    scheme = urlsplit(dsn).scheme.lower()
    if scheme in _PG_SCHEMES:
        return "postgres"
    if scheme == "sqlite" or (not scheme and dsn.startswith("/")):
        return "sqlite"
    raise ConfigError("a database connection string must start with postgresql://, postgres:// or sqlite:///")


def check_connection_string(provider: str, dsn: str) -> None:
    """At connect time: the string is a URL of the provider's engine (its secret parts are not echoed).

    Raises:
        ConfigError: another engine's scheme, or not a URL.
    """
    engine = engine_of(dsn)
    if engine != provider:
        raise ConfigError(f"the {provider} integration needs a {provider} connection string, not a {engine} one")


def sqlite_path(dsn: str, roots: Sequence[str]) -> Path:
    """The database file a sqlite connection string names, once policy allows it.

    Raises:
        ConfigError: not an absolute path to an existing file.
        PermissionDeniedError: outside every allowed directory, or no directory is allowed.
    """
    raw = dsn[len("sqlite://") :] if dsn.startswith("sqlite://") else dsn
    raw = unquote(raw.split("?", 1)[0])
    path = Path(raw)
    if not path.is_absolute():
        raise ConfigError(f"a SQLite connection string needs an absolute path (sqlite:///abs/file.db), got {raw!r}")
    resolved = path.resolve()
    if not resolved.is_file():
        raise ConfigError(f"no SQLite database file at {raw}")
    allowed = [Path(r).resolve() for r in roots if r]
    if not allowed:
        raise PermissionDeniedError(
            f"no directory is allowed for SQLite databases; an admin must allow one ({ROOTS_ENV} or org policy)"
        )
    if not any(resolved.is_relative_to(root) for root in allowed):
        raise PermissionDeniedError(f"{raw} is outside the directories allowed for SQLite databases")
    return resolved


def sqlite_roots(extra: Sequence[str] = ()) -> list[str]:
    """Allowed SQLite directories: the org's policy plus the server's own setting."""
    env = os.environ.get(ROOTS_ENV, "")
    return [*extra, *(p for p in env.split(os.pathsep) if p)]


def open_database(dsn: str, *, roots: Sequence[str] = ()) -> Database:
    """The Database for a connection string. Drivers are imported only here, when a database is used.

    Raises:
        ConfigError: unknown scheme, or the Postgres driver is not installed.
    """
    if engine_of(dsn) == "sqlite":
        from .sqlite import SqliteDatabase

        return SqliteDatabase(sqlite_path(dsn, sqlite_roots(roots)))
    try:
        from .postgres import PostgresDatabase
    except ImportError as exc:  # the driver is an optional dependency
        raise ConfigError("the Postgres integration needs the psycopg package (pip install 'psycopg[binary]')") from exc
    return PostgresDatabase(dsn)
