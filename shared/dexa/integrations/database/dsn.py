"""What of a connection string may appear in a message: where it points, never the password.

Its own module because the drivers need it and `connect.open_database` imports the drivers.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit


def where(dsn: str) -> str:
    """'host:port/database as user' for messages: everything an operator needs, and no password."""
    parts = urlsplit(dsn)
    host = parts.hostname or "localhost"
    try:
        port = parts.port or 5432
    except ValueError:
        port = "?"
    database = unquote(parts.path.lstrip("/")) or "(default database)"
    user = f" as {unquote(parts.username)}" if parts.username else ""
    return f"{host}:{port}/{database}{user}"


def scrub(text: str, dsn: str) -> str:
    """A driver message with the connection string and its password removed, whatever the driver quoted."""
    parts = urlsplit(dsn)
    for secret in (dsn, parts.password and unquote(parts.password), parts.password):
        if secret:
            text = text.replace(secret, "***")
    return text
