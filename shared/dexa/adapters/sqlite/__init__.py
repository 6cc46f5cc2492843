"""Embedded SQLite (WAL) store and the on-disk content-addressed blob store."""

from .blobs import FileBlobStore
from .store import SqliteStore

__all__ = ["FileBlobStore", "SqliteStore"]
