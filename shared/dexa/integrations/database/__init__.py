"""Database integrations (Postgres, SQLite): schema introspection, capped read-only queries, staged writes.

The connection string lives only in the vault; the control plane opens a connection per call.
"""

from .base import Database, QueryLimits
from .connect import open_database

__all__ = ["Database", "QueryLimits", "open_database"]
