"""Checkpoints of remote workspaces (Modal): the tree listing, batched reads and a batched restore.

A remote workspace has no host path, and a round trip per file would make a checkpoint of a 10,000-file repo cost
minutes. A workspace that offers the tree capability (TreeWorkspace: one exec lists every file's stat and the
.gitignore texts; reads and writes go in batches) is snapshotted by the same Snapshotter as a host directory:

    listing   1 exec                 the ignore rules are applied here, as scan_tree applies them on a host
    reads     1 exec per batch       only files whose (mtime_ns, size, inode) changed, BATCH_BYTES per batch
    restore   2 calls per batch      one upload of the payload, one exec applying deletes, writes and modes

The sandbox is untrusted, but it is also where the files live: the control plane only ever sends it content to
write inside the workspace, and reads what it reports back, so nothing outside the sandbox is at stake.
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from .ignore import IgnoreRules
from .manifest import Skip, Stat, TreeState
from .restore import RestorePlan

logger = logging.getLogger(__name__)


@runtime_checkable
class TreeWorkspace(Protocol):
    """The optional capability a remote Workspace offers for checkpoints (dexa.adapters.modal.tree)."""

    root: str

    async def list_tree(self, root: str) -> dict[str, Any]: ...

    async def read_files(self, root: str, rels: Sequence[str], *, limit: int) -> dict[str, bytes | None]: ...

    async def apply_files(
        self,
        root: str,
        *,
        deletes: Sequence[str],
        writes: Mapping[str, tuple[bytes, int | None]],
        keep_dirs: Sequence[str] = (),
    ) -> tuple[list[str], list[str], list[dict[str, str]]]: ...


@dataclass(frozen=True, slots=True)
class RemoteTree:
    """A remote workspace's tree, where the Snapshotter would otherwise take a host directory."""

    workspace: TreeWorkspace
    root: str

    @property
    def key(self) -> str:
        """Identifies this tree's ignore-rule cache (one per session's workspace)."""
        return f"remote:{getattr(self.workspace, 'sandbox_name', id(self.workspace))}:{self.root}"

    async def scan(self, rules: IgnoreRules) -> tuple[dict[str, Stat], list[Skip], int]:
        """(stats of kept regular files, symlinks as skips, the sandbox's clock at the listing) in one exec."""
        listing = await self.workspace.list_tree(self.root)
        if listing.get("truncated"):
            logger.warning("workspace %s lists too many entries; the checkpoint covers the first ones", self.root)
        with rules.lock:
            stats, links = filter_listing(listing, rules)
        return stats, links, int(listing.get("now_ns") or 0)

    async def read(self, rels: list[str], limit: int) -> list[tuple[str, bytes | None]]:
        got = await self.workspace.read_files(self.root, rels, limit=limit)
        return [(rel, got.get(rel)) for rel in rels]

    async def apply(
        self, plan: RestorePlan, contents: dict[str, bytes], target: TreeState
    ) -> tuple[list[str], list[str], list[dict[str, str]]]:
        """Deletes, emptied-directory pruning and writes (with the checkpoint's permission bits) in batches."""
        keep = {posixpath.dirname(p) for p in target.files}
        keep_all = sorted({"/".join(d.split("/")[:i]) for d in keep for i in range(1, d.count("/") + 2)} - {""})
        writes = {p: (data, target.stat[p][3] if p in target.stat else None) for p, data in contents.items()}
        return await self.workspace.apply_files(self.root, deletes=plan.deletes, writes=writes, keep_dirs=keep_all)


def filter_listing(listing: Mapping[str, Any], rules: IgnoreRules) -> tuple[dict[str, Stat], list[Skip]]:
    """scan_tree's decisions over a listing: a directory's .gitignore applies below it, parents before children,
    and nothing under an ignored directory is kept. Callers hold rules.lock."""
    files: list[list[Any]] = list(listing.get("files") or [])
    links: list[str] = list(listing.get("links") or [])
    gitignores: Mapping[str, Any] = listing.get("gitignores") or {}
    dirs = {""}
    for rel in [f[0] for f in files] + links:
        parent = posixpath.dirname(rel)
        while parent not in dirs:
            dirs.add(parent)
            parent = posixpath.dirname(parent)
    ignored: set[str] = set()
    for d in sorted(dirs, key=lambda d: (d.count("/") if d else -1, d)):
        if d and (posixpath.dirname(d) in ignored or rules.ignored(d, is_dir=True)):
            ignored.add(d)
            continue
        entry = gitignores.get(d)
        if entry is None:
            rules.load_dir(d, None, None)
        else:
            key, text = entry
            rules.load_dir_text(d, str(text), (int(key[0]), int(key[1]), int(key[2])))
    stats: dict[str, Stat] = {}
    for rel, mtime_ns, size, ino, mode in files:
        if posixpath.dirname(rel) not in ignored and not rules.ignored(rel, is_dir=False):
            stats[rel] = (int(mtime_ns), int(size), int(ino), int(mode))
    skips = [
        Skip(path=rel, reason="symlink")
        for rel in links
        if posixpath.dirname(rel) not in ignored and not rules.ignored(rel, is_dir=False)
    ]
    return stats, skips
