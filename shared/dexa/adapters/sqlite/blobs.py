"""Content-addressed blobs on local disk: <root>/ab/cdef... (sha256)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from dexa.core.errors import NotFoundError


class FileBlobStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, digest: str) -> Path:
        if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
            raise NotFoundError(f"not a sha256 digest: {digest!r}")
        return self.root / digest[:2] / digest[2:]

    async def put_blob(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        path = self._path(digest)
        if path.exists():
            return digest
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write-then-rename so a crash never leaves a truncated blob under its final name.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        return digest

    async def get_blob(self, digest: str) -> bytes:
        path = self._path(digest)
        try:
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise NotFoundError(f"blob {digest} not found") from exc

    async def has_blob(self, digest: str) -> bool:
        return self._path(digest).exists()
