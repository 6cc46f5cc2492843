"""Content-addressed blobs on local disk: <root>/ab/cdef... (sha256).

Creating the file is the cost that matters, so a put does the least around it: one stat to skip content already
stored, shard directories created once per instance, no fsync, and write-then-rename so a crash never leaves a
truncated blob under its final name. `put_blobs` stores a whole batch in one worker thread: callers with thousands
of blobs pay one thread hop per batch instead of one per blob, and can run two batches at once on two cores.

On ext4 the root is marked a top-of-hierarchy directory (chattr +T), so the allocator spreads the 256 shard
directories over little-used block groups instead of packing them next to the parent. Next to a busy parent such
as /tmp, whose groups are full of recently deleted inodes that a journal-less ext4 steps over one by one, each new
file cost 250-350 us instead of 30 us (10,000 blobs: 2.5-3.5 s instead of 0.3 s).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import struct
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import anyio.to_thread

from dexa.core.errors import NotFoundError

logger = logging.getLogger(__name__)

_DIGEST = re.compile(r"[0-9a-f]{64}")
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)


class FileBlobStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._base = str(self.root)
        self._shards: set[str] = set()  # shard directories known to exist; set.add is atomic under the GIL
        _mark_top_dir(self._base)

    def _path(self, digest: str) -> Path:
        if not _DIGEST.fullmatch(digest):
            raise NotFoundError(f"not a sha256 digest: {digest!r}")
        return self.root / digest[:2] / digest[2:]

    async def put_blob(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        self._store(digest, data)
        return digest

    async def put_blobs(self, blobs: Sequence[bytes]) -> list[tuple[str, bool]]:
        """Store many blobs in one worker thread. Returns (digest, newly stored) per blob, in order."""
        return await anyio.to_thread.run_sync(self._put_many, blobs)

    def _put_many(self, blobs: Sequence[bytes]) -> list[tuple[str, bool]]:
        out: list[tuple[str, bool]] = []
        for data in blobs:
            digest = hashlib.sha256(data).hexdigest()
            out.append((digest, self._store(digest, data)))
        return out

    async def get_blob(self, digest: str) -> bytes:
        path = self._path(digest)
        try:
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise NotFoundError(f"blob {digest} not found") from exc

    async def has_blob(self, digest: str) -> bool:
        return self._path(digest).exists()

    def _store(self, digest: str, data: bytes) -> bool:
        """Write `data` under `digest` unless it is already there; True when this call stored it."""
        shard = f"{self._base}/{digest[:2]}"
        final = f"{shard}/{digest[2:]}"
        try:
            os.stat(final)
            return False
        except FileNotFoundError:
            pass
        # Per thread, so concurrent writers of the same content (threads or processes) never share a tmp file.
        tmp = f"{shard}/.{digest[2:]}.{os.getpid()}.{threading.get_ident()}.tmp"
        if shard not in self._shards:
            os.makedirs(shard, exist_ok=True)
            self._shards.add(shard)
        try:
            fd = os.open(tmp, _WRITE_FLAGS, 0o666)
        except FileNotFoundError:
            # The shard directory was removed behind our back (manual cleanup): recreate it once.
            os.makedirs(shard, exist_ok=True)
            fd = os.open(tmp, _WRITE_FLAGS, 0o666)
        try:
            with memoryview(data) as view:
                written = 0
                while written < len(view):
                    written += os.write(fd, view[written:])
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        os.close(fd)
        os.replace(tmp, final)
        return True


def _mark_top_dir(path: str) -> None:
    """Best effort: set FS_TOPDIR_FL on `path` (Linux ext2/3/4); other systems and filesystems simply lack it."""
    if not sys.platform.startswith("linux"):
        return
    import fcntl

    get_flags, set_flags, topdir = 0x80086601, 0x40086602, 0x00020000  # FS_IOC_GETFLAGS/SETFLAGS, FS_TOPDIR_FL
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return
    try:
        (flags,) = struct.unpack("i", fcntl.ioctl(fd, get_flags, struct.pack("i", 0)))
        if not flags & topdir:
            fcntl.ioctl(fd, set_flags, struct.pack("i", flags | topdir))
    except OSError as exc:
        logger.debug("cannot mark %s as a top directory (%s); blob writes may be slower", path, exc)
    finally:
        os.close(fd)
