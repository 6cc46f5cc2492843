"""The incremental snapshotter: walk the tree, hash only what changed, upload new content as blobs.

A file is re-hashed only when its (mtime_ns, size, inode) differs from the previous checkpoint's stat entry, or when
it is "racily clean": modified so close to the previous scan that a later same-size write could have kept the same
mtime (the problem git's index solves the same way). The tree is walked and content read fd-relative with no-follow
opens (dexa.core.safefs), so a sandboxed process cannot swap in a symlink and get a host file listed or captured.

Remote workspaces (Modal) use the same code through their tree capability (remote.py): one listing exec gives
every file's stat, and changed files are read in batches; `tree_for` picks the host directory or the remote tree.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import stat as stat_mod
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import anyio

from dexa.core.errors import SandboxError, StorageError
from dexa.core.ports import BlobStore, Workspace
from dexa.core.safefs import SafeFS, walk_fd

from .ignore import IgnoreRules
from .manifest import Skip, Stat, TreeState
from .remote import RemoteTree, TreeWorkspace

logger = logging.getLogger(__name__)

# Mtime granularity we guard against (coarse kernel clocks tick every 1-10 ms; 100 ms leaves a wide margin).
RACY_WINDOW_NS = 100_000_000
# Small batches let reading the next one overlap storing the current one; memory stays bounded by two batches.
BATCH_BYTES = 16 * 1024 * 1024
BATCH_FILES = 512
STORE_CONCURRENCY = 16
# Batches in flight at once: two keep both cores busy (hashing and file I/O release the GIL) on small machines.
PIPELINES = 2
# A small tree is walked and its few changed files hashed on the event loop: under load a worker-thread hop costs
# ~2-4 ms of waiting to be scheduled, several times the work (a checkpoint is taken before every Bash). The budget
# bounds what the loop can be held for (~1-2 ms); a walk past it is dropped and done again in a thread.
INLINE_SCAN_ENTRIES = 512
INLINE_READ_BYTES = 256 * 1024
INLINE_READ_FILES = 16


class _OverBudget(Exception):
    """The inline walk met more entries than INLINE_SCAN_ENTRIES."""


@runtime_checkable
class BatchBlobStore(Protocol):
    """Optional BlobStore extension: store many blobs in one call, returning (digest, newly stored) per blob."""

    async def put_blobs(self, blobs: Sequence[bytes]) -> list[tuple[str, bool]]: ...


def host_root(workspace: Workspace) -> str:
    """The workspace root as a host directory. Raises SandboxError for remote workspaces (no host path)."""
    root = os.path.realpath(workspace.root)
    if getattr(workspace, "is_remote", False) or not os.path.isdir(root):
        raise SandboxError(
            f"workspace {workspace.root!r} is not a host directory; checkpoints need a stat listing from remote "
            "workspaces (dexa.checkpoints.remote.TreeWorkspace), and this one offers none"
        )
    return root


def tree_for(workspace: Workspace) -> str | RemoteTree:
    """What a checkpoint walks: the host directory, or the remote tree of a workspace that offers the listing.

    Raises:
        SandboxError: a remote workspace without the tree capability.
    """
    if getattr(workspace, "is_remote", False) and isinstance(workspace, TreeWorkspace):
        return RemoteTree(workspace, workspace.root)
    return host_root(workspace)


def scan_tree(root: str, rules: IgnoreRules, *, budget: int | None = None) -> tuple[dict[str, Stat], list[Skip]]:
    """Every regular file under root that .gitignore keeps, with its stat; symlinks are reported, not followed.

    The walk is fd-relative with no-follow opens (dexa.core.safefs.walk_fd): a directory swapped for a symlink while
    we walk is skipped, so nothing outside the root is ever listed. With `budget`, raises _OverBudget once more than
    that many directory entries were seen.
    """
    stats: dict[str, Stat] = {}
    links: list[Skip] = []
    try:
        top = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        logger.warning("cannot list %s, leaving it out of the checkpoint: %s", root, exc)
        return stats, links

    def descend(rel: str, entry: os.DirEntry[str]) -> bool:
        return not rules.ignored(rel, is_dir=True)

    seen = 0
    for rel_dir, fd, entries in walk_fd(top, "", descend):
        seen += len(entries)
        if budget is not None and seen > budget:
            raise _OverBudget  # leaving the loop closes the walk's generator, and with it its fds
        _load_gitignore(rules, rel_dir, fd, entries)
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            try:
                if entry.is_symlink():
                    if not rules.ignored(rel, is_dir=False):
                        links.append(Skip(path=rel, reason="symlink"))
                elif entry.is_file(follow_symlinks=False) and not rules.ignored(rel, is_dir=False):
                    st = entry.stat(follow_symlinks=False)
                    stats[rel] = (st.st_mtime_ns, st.st_size, st.st_ino, stat_mod.S_IMODE(st.st_mode))
            except FileNotFoundError:
                continue  # deleted while we walked: it is simply absent from this checkpoint
    return stats, links


def _load_gitignore(rules: IgnoreRules, rel_dir: str, fd: int, entries: list[os.DirEntry[str]]) -> None:
    for entry in entries:
        if entry.name == ".gitignore" and entry.is_file(follow_symlinks=False):
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                break
            # Through the directory's fd: the directory cannot be swapped under us (the rules open it no-follow).
            rules.load_dir(rel_dir, f"/proc/self/fd/{fd}/.gitignore", (st.st_mtime_ns, st.st_size, st.st_ino))
            return
    rules.load_dir(rel_dir, None, None)


def read_confined(root: str, rel: str, limit: int) -> bytes | None:
    """The bytes of root/rel if it is a regular file reached without any symlink and at most `limit` bytes, else
    None. Walked fd-relative with no-follow opens, so a link swapped in anywhere on the path is refused, not read."""
    try:
        return SafeFS((root,)).read(os.path.join(root, rel), limit=limit, follow=False)
    except (OSError, SandboxError):
        return None


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

    def rules_for(self, root: str | RemoteTree) -> IgnoreRules:
        return self._rules.setdefault(root.key if isinstance(root, RemoteTree) else root, IgnoreRules())

    async def capture(self, root: str | RemoteTree, previous: TreeState | None) -> Capture:
        rules = self.rules_for(root)
        if isinstance(root, RemoteTree):
            # The sandbox's own clock: racy-clean checks compare its mtimes with its time.
            stats, links, scan_ns = await root.scan(rules)
        else:
            scan_ns = time.time_ns()
            host = root

            def scan() -> tuple[dict[str, Stat], list[Skip]]:
                with rules.lock:
                    return scan_tree(host, rules)

            small = previous is None or len(previous.stat) + len(previous.skipped) <= INLINE_SCAN_ENTRIES // 2
            scanned = _scan_inline(host, rules) if small else None
            stats, links = scanned if scanned is not None else await anyio.to_thread.run_sync(scan)
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
        self, root: str | RemoteTree, rels: list[str], stats: dict[str, Stat], state: TreeState
    ) -> tuple[int, int]:
        """Read, hash and store batches in worker threads, PIPELINES batches in flight so both cores work.

        Each pipeline takes the next batch, reads and hashes it in one thread hop and stores its new blobs in one
        more (`put_blobs`, when the store has it). Results are applied in batch order, so the state is the same
        whichever pipeline finishes first.
        """
        batches = list(_batches(rels, stats))
        digests: list[list[tuple[str, str | None]]] = [[] for _ in batches]
        queue = iter(range(len(batches)))
        sent: set[str] = set()  # content already handed to the store by this capture
        added = 0

        async def pipeline() -> None:
            nonlocal added
            for i in queue:
                fresh: dict[str, bytes] = {}
                # Sizes as walked: a file that grew since is still read within max_file_bytes.
                small = sum(stats[rel][1] for rel in batches[i]) <= INLINE_READ_BYTES
                inline = small and len(batches[i]) <= INLINE_READ_FILES
                for rel, data, digest in await self._read(root, batches[i], inline=inline):
                    # None: vanished, replaced by a symlink or grew past the cap since the walk.
                    digests[i].append((rel, None if data is None else digest))
                    if data is not None and digest not in sent:
                        sent.add(digest)
                        fresh[digest] = data
                stored = await self._store(fresh)
                added += stored  # not `added += await ...`: that reads `added` before the await and loses updates

        tasks = [asyncio.ensure_future(pipeline()) for _ in range(min(PIPELINES, len(batches)))]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        hashed = 0
        for results in digests:
            for rel, digest in results:
                if digest is None:
                    state.stat.pop(rel, None)
                else:
                    hashed += 1
                    state.files[rel] = digest
        self.hash_calls += hashed
        return hashed, added

    async def _read(
        self, root: str | RemoteTree, batch: list[str], *, inline: bool = False
    ) -> list[tuple[str, bytes | None, str]]:
        if isinstance(root, RemoteTree):
            got = await root.read(batch, self.max_file_bytes)  # one round trip for the whole batch
            return await anyio.to_thread.run_sync(_hash_all, got)
        if inline:
            return self._read_batch(root, batch)  # a few small files: less work than the thread hop (see above)
        return await anyio.to_thread.run_sync(self._read_batch, root, batch)

    async def _store(self, fresh: dict[str, bytes]) -> int:
        """Put the blobs the store lacks: one batch call when the store has `put_blobs`, else a few at a time."""
        if not fresh:
            return 0
        if isinstance(self.blobs, BatchBlobStore):
            items = list(fresh.items())
            stored = await self.blobs.put_blobs([data for _, data in items])
            added = 0
            for (digest, data), (got, new) in zip(items, stored, strict=True):
                if got != digest:
                    raise StorageError(f"blob store returned {got} for content hashed as {digest}")
                added += len(data) if new else 0
            return added
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


def _scan_inline(root: str, rules: IgnoreRules) -> tuple[dict[str, Stat], list[Skip]] | None:
    """scan_tree on the calling thread within INLINE_SCAN_ENTRIES; None when the tree is bigger, or when a thread
    holds the rules (the loop must never wait for one)."""
    if not rules.lock.acquire(blocking=False):
        return None
    try:
        return scan_tree(root, rules, budget=INLINE_SCAN_ENTRIES)
    except _OverBudget:
        return None
    finally:
        rules.lock.release()


def _hash_all(got: list[tuple[str, bytes | None]]) -> list[tuple[str, bytes | None, str]]:
    return [(rel, data, "" if data is None else hashlib.sha256(data).hexdigest()) for rel, data in got]


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
