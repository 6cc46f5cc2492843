"""Serving the UI's static files from the package: no build step, no CDN, ETags so reloads are cheap."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from starlette.requests import Request
from starlette.responses import Response

from dexa.core.errors import NotFoundError

STATIC_DIR: Final = Path(__file__).parent / "static"

MEDIA_TYPES: Final[dict[str, str]] = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".png": "image/png",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}


@dataclass(frozen=True, slots=True)
class StaticFile:
    body: bytes
    etag: str
    media_type: str


class StaticFiles:
    """Files under one directory, read once and kept in memory (the whole UI is a few hundred KB)."""

    def __init__(self, root: Path = STATIC_DIR, *, cache: bool = True) -> None:
        self.root = root.resolve()
        self.cache = cache
        self._files: dict[str, StaticFile] = {}

    def get(self, rel: str) -> StaticFile:
        """The file at `rel`; NotFoundError for anything outside the root, hidden, or of an unknown type."""
        hit = self._files.get(rel)
        if hit is not None:
            return hit
        parts = rel.split("/")
        if not rel or any(p in ("", ".", "..") or p.startswith(".") for p in parts) or "\\" in rel or "\x00" in rel:
            raise NotFoundError(f"static file not found: {rel[:200]!r}")
        path = (self.root / rel).resolve()
        media_type = MEDIA_TYPES.get(path.suffix)
        if media_type is None or not path.is_relative_to(self.root) or not path.is_file():
            raise NotFoundError(f"static file not found: {rel[:200]!r}")
        body = path.read_bytes()
        found = StaticFile(body=body, etag='"' + hashlib.sha256(body).hexdigest()[:20] + '"', media_type=media_type)
        if self.cache:
            self._files[rel] = found
        return found

    def names(self) -> list[str]:
        """Every servable file, relative to the root (used to preload the modules)."""
        return sorted(
            str(p.relative_to(self.root))
            for p in self.root.rglob("*")
            if p.is_file() and p.suffix in MEDIA_TYPES and not p.name.startswith(".")
        )

    def response(self, request: Request, rel: str, headers: dict[str, str]) -> Response:
        f = self.get(rel)
        # Revalidate every time: a 304 costs one round trip on loopback and a deploy never serves stale modules.
        common = {**headers, "ETag": f.etag, "Cache-Control": "no-cache"}
        if f.etag in (request.headers.get("if-none-match") or ""):
            return Response(status_code=304, headers=common)
        return Response(f.body, media_type=f.media_type, headers=common)
