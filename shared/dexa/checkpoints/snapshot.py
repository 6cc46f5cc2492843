"""The incremental snapshotter: walk the tree, hash only what changed, upload new content as blobs.

A file is re-hashed only when its (mtime_ns, size, inode) differs from the previous checkpoint's stat entry, or when
it is "racily clean": modified so close to the previous scan that a later same-size write could have kept the same
mtime (the problem git's index solves the same way). Content is read through a descriptor opened with O_NOFOLLOW and
checked to still be inside the root, so a sandboxed process cannot swap in a symlink and get a host file captured.

Remote workspaces (Modal) need one extra capability to use the same code: a `stat` listing of the tree
(path, mtime_ns, size, inode, mode; e.g. `find . -type f -printf ...` run inside the sandbox) plus `read_bytes`.
Until a workspace offers that, `host_root` refuses it and the checkpointer reports checkpoints as unavailable.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import stat as stat_mod
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import anyio

from dexa.core.errors import SandboxError, StorageError
from dexa.core.ports import BlobStore, Workspace

from .ignore import IgnoreRules
from .manifest import Skip, Stat, TreeState

logger = logging.getLogger(__name__)

# Mtime granularity we guard against (coarse kernel clocks tick every 1-10 ms; 100 ms leaves a wide margin).
RACY_WINDOW_NS = 100_000_000
# Small batches let reading the next one overlap storing the current one; memory stays bounded by two batches.
BATCH_BYTES = 16 * 1024 * 1024
BATCH_FILES = 512
STORE_CONCURRENCY = 16


def host_root(workspace: Workspace) -> str:
    """The workspace root as a host directory. Raises SandboxError for remote workspaces (no host path)."""
    root = os.path.realpath(workspace.root)
    if getattr(workspace, "is_remote", False) or not os.path.isdir(root):
        raise SandboxError(
            f"workspace {workspace.root!r} is not a host directory; checkpoints need a stat listing from remote "
            "workspaces (not implemented yet)"
        )
    return root


def scan_tree(root: str, rules: IgnoreRules) -> tuple[dict[str, Stat], list[Skip]]:
    """Every regular file under root that .gitignore keeps, with its stat; symlinks are reported, not followed."""
    stats: dict[str, Stat] = {}
    links: list[Skip] = []
    stack: list[tuple[str, str]] = [("", root)]
    while stack:
        rel_dir, abs_dir = stack.pop()
        try:
            with os.scandir(abs_dir) as it:
                entries = list(it)
        except OSError as exc:
            logger.warning("cannot list %s, leaving it out of the checkpoint: %s", abs_dir, exc)
            continue
        _load_gitignore(rules, rel_dir, entries)
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            try:
                if entry.is_symlink():
                    if not rules.ignored(rel, is_dir=False):
                        links.append(Skip(path=rel, reason="symlink"))
                elif entry.is_dir(follow_symlinks=False):
                    if not rules.ignored(rel, is_dir=True):
                        stack.append((rel, entry.path))
                elif entry.is_file(follow_symlinks=False) and not rules.ignored(rel, is_dir=False):
                    st = entry.stat(follow_symlinks=False)
                    stats[rel] = (st.st_mtime_ns, st.st_size, st.st_ino, stat_mod.S_IMODE(st.st_mode))
            except FileNotFoundError:
                continue  # deleted while we walked: it is simply absent from this checkpoint
    return stats, links


def _load_gitignore(rules: IgnoreRules, rel_dir: str, entries: list[os.DirEntry[str]]) -> None:
    for entry in entries:
        if entry.name == ".gitignore" and entry.is_file(follow_symlinks=False):
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                break
            rules.load_dir(rel_dir, entry.path, (st.st_mtime_ns, st.st_size, st.st_ino))
            return
    rules.load_dir(rel_dir, None, None)


def read_confined(root: str, rel: str, limit: int) -> bytes | None:
    """The bytes of root/rel if it is still a regular file inside root and at most `limit` bytes, else None."""
    path = os.path.join(root, rel)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        real = os.readlink(f"/proc/self/fd/{fd}") if os.path.exists("/proc/self/fd") else os.path.realpath(path)
        if not real.startswith(root.rstrip("/") + "/") or not stat_mod.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = fh.read(limit + 1)
    return None if len(data) > limit else data


@dataclass(slots=True, kw_only=True)
class Capture:
    state: TreeState
    hashed: int
    bytes_added: int
    # Paths whose stat changed or that were re-hashed: the only ones that can differ from the previous state.
    touched: set[str] = field(default_factory=set)
    previous: TreeState | None = None  # the state `touched` is relative to


class Snapshotter:
    """Turns a workspace tree into a TreeState, storing new content in the BlobStore."""

    def __init__(self, blobs: BlobStore, *, max_file_bytes: int, max_workspace_bytes: int) -> None:
        self.blobs = blobs
        self.max_file_bytes = max_file_bytes
        self.max_workspace_bytes = max_workspace_bytes
        # Files read and hashed since this snapshotter was created: tests and benchmarks check incrementality here.
        self.hash_calls = 0
        self._rules: dict[str, IgnoreRules] = {}

    def rules_for(self, root: str) -> IgnoreRules:
        return self._rules.setdefault(root, IgnoreRules())

    async def capture(self, root: str, previous: TreeState | None) -> Capture:
        rules = self.rules_for(root)
        scan_ns = time.time_ns()

        def scan() -> tuple[dict[str, Stat], list[Skip]]:
            with rules.lock:
                return scan_tree(root, rules)

        stats, links = await anyio.to_thread.run_sync(scan)
        prev = previous or TreeState()
        state = TreeState(scan_ns=scan_ns, skipped=links)
        racy_cutoff = prev.scan_ns - RACY_WINDOW_NS
        total = 0
        to_hash: list[str] = []
        touched: set[str] = set()
        for rel in sorted(stats):
            st = stats[rel]
            size = st[1]
            if size > self.max_file_bytes:
                state.skipped.append(Skip(path=rel, reason="file_cap", size=size))
                continue
            if total + size > self.max_workspace_bytes:
                state.skipped.append(Skip(path=rel, reason="workspace_cap", size=size))
                continue
            total += size
            state.stat[rel] = st
            old, digest = prev.stat.get(rel), prev.files.get(rel)
            if old != st:
                touched.add(rel)
            if digest is not None and old is not None and old[:3] == st[:3] and old[0] < racy_cutoff:
                state.files[rel] = digest
            else:
                to_hash.append(rel)
        touched.update(to_hash)
        hashed, added = await self._hash_and_store(root, to_hash, stats, state)
        state.skipped.sort(key=lambda s: s.path)
        return Capture(state=state, hashed=hashed, bytes_added=added, touched=touched, previous=previous)

    async def _hash_and_store(
        self, root: str, rels: list[str], stats: dict[str, Stat], state: TreeState
    ) -> tuple[int, int]:
        """Read and hash in a worker thread, one batch ahead of storing the previous batch's new blobs."""
        batches = list(_batches(rels, stats))
        hashed = added = 0
        reading: asyncio.Task[list[tuple[str, bytes | None, str]]] | None = None
        try:
            for i, batch in enumerate(batches):
                results = await (reading or self._read(root, batch))
                reading = asyncio.create_task(self._read(root, batches[i + 1])) if i + 1 < len(batches) else None
                fresh: dict[str, bytes] = {}
                for rel, data, digest in results:
                    if data is None:
                        # Vanished, replaced by a symlink or grew past the cap since the walk: not in this state.
                        state.stat.pop(rel, None)
                        continue
                    hashed += 1
                    state.files[rel] = digest
                    fresh.setdefault(digest, data)
                added += await self._store(fresh)
        finally:
            if reading is not None:
                reading.cancel()
        self.hash_calls += hashed
        return hashed, added

    async def _read(self, root: str, batch: list[str]) -> list[tuple[str, bytes | None, str]]:
        return await anyio.to_thread.run_sync(self._read_batch, root, batch)

    async def _store(self, fresh: dict[str, bytes]) -> int:
        """Put the blobs the store lacks, a few at a time so stores with real I/O concurrency can use it."""
        items = list(fresh.items())
        added = 0
        for i in range(0, len(items), STORE_CONCURRENCY):
            group = items[i : i + STORE_CONCURRENCY]
            added += sum(await asyncio.gather(*(self._store_one(d, data) for d, data in group)))
        return added

    async def _store_one(self, digest: str, data: bytes) -> int:
        if await self.blobs.has_blob(digest):
            return 0
        stored = await self.blobs.put_blob(data)
        if stored != digest:
            raise StorageError(f"blob store returned {stored} for content hashed as {digest}")
        return len(data)

    def _read_batch(self, root: str, batch: list[str]) -> list[tuple[str, bytes | None, str]]:
        out: list[tuple[str, bytes | None, str]] = []
        for rel in batch:
            data = read_confined(root, rel, self.max_file_bytes)
            out.append((rel, data, "" if data is None else hashlib.sha256(data).hexdigest()))
        return out


def _batches(rels: list[str], stats: dict[str, Stat]) -> Iterator[list[str]]:
    batch: list[str] = []
    size = 0
    for rel in rels:
        batch.append(rel)
        size += stats[rel][1]
        if size >= BATCH_BYTES or len(batch) >= BATCH_FILES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch
