"""A workspace that is not on this host (a Modal sandbox), packed and materialized through its Workspace port.

The control plane has no path to such a workspace, and a round trip per file would make moving a 10,000-file
repository take minutes, so both directions use the tree capability remote checkpoints use
(dexa.checkpoints.remote.TreeWorkspace): one exec lists every file with its permission bits and the .gitignore
texts, reads and writes go in batches. The document is the one the host packer writes, kind "tree", so `dexa pull`
from a cloud server materializes it locally byte for byte and mode for mode. The same files stay behind as on a host:
.git, ignored files and dependency directories (the same IgnoreRules), and the same size cap holds.

Symbolic links do not travel this way: the listing names them, but the port reads no link target and writes no
link. A git document (a bundle plus an overlay) is rebuilt in a host staging directory first and its files, the
clone's `.git` included, are written through the port: the remote workspace gets the same repository.
"""

from __future__ import annotations

import logging
import os
import stat as stat_mod
import tempfile
from collections.abc import Iterator
from typing import Any

from dexa.checkpoints.ignore import IgnoreRules
from dexa.checkpoints.remote import TreeWorkspace, filter_listing
from dexa.core.errors import ConfigError, DexaError, SandboxError
from dexa.core.ports import Workspace

from .workspace import MAX_PACK_BYTES, FileEntry, WorkspacePack, materialize

logger = logging.getLogger(__name__)

# One exec reads at most this much content (the same batch remote checkpoints use).
READ_BATCH_BYTES = 16 * 1024 * 1024


def _tree(ws: Workspace) -> TreeWorkspace:
    if not isinstance(ws, TreeWorkspace):
        raise DexaError(
            f"this server's workspaces ({type(ws).__name__}) offer no tree listing, so a session in one cannot be "
            "moved; it needs the tree capability remote checkpoints use",
            code="not_implemented",
        )
    return ws


def _over_cap(root: str, rel: str) -> ConfigError:
    return ConfigError(
        f"workspace {root} packs to more than {MAX_PACK_BYTES // (1024 * 1024)} MiB (at {rel}), "
        "over what a session move carries; commit or ignore large files first"
    )


async def pack_remote(ws: Workspace, root: str) -> WorkspacePack:
    """The remote workspace at root as a tree snapshot: every kept regular file, its bytes and permission bits."""
    tree = _tree(ws)
    listing: dict[str, Any] = await tree.list_tree(root)
    if listing.get("truncated"):
        raise ConfigError(f"workspace {root} holds too many entries to list in one go; it is not moved partially")
    rules = IgnoreRules()
    with rules.lock:
        stats, _links = filter_listing(listing, rules)
    total = 0
    for rel in sorted(stats):  # refuse before reading anything: the listing knows every size
        total += stats[rel][1]
        if total > MAX_PACK_BYTES:
            raise _over_cap(root, rel)
    files: list[FileEntry] = []
    for batch in _batches(sorted(stats), stats):
        got = await tree.read_files(root, batch, limit=MAX_PACK_BYTES)
        for rel in batch:
            data = got.get(rel)
            if data is None:
                # Gone or swapped for a link since the listing: the agent is not idle (export answers 409 during
                # a turn), or a background job is writing. Packing what is there would be a torn snapshot.
                raise SandboxError(f"{rel} changed while the workspace was packed; try again when it is quiet")
            files.append(FileEntry(path=rel, mode=stat_mod.S_IMODE(stats[rel][3]), data=data))
    if sum(len(f.data) for f in files) > MAX_PACK_BYTES:
        raise _over_cap(root, files[-1].path if files else root)
    return WorkspacePack(kind="tree", files=tuple(files), modes={f.path: f.mode for f in files})


def _batches(rels: list[str], stats: dict[str, tuple[int, int, int, int]]) -> Iterator[list[str]]:
    batch: list[str] = []
    size = 0
    for rel in rels:
        if batch and size + stats[rel][1] > READ_BATCH_BYTES:
            yield batch
            batch, size = [], 0
        batch.append(rel)
        size += stats[rel][1]
    if batch:
        yield batch


async def materialize_remote(ws: Workspace, root: str, workspace: WorkspacePack) -> int:
    """Write the packed workspace into the (empty) remote workspace at root; returns the files written.
    Links in the document are skipped with a warning (the port cannot make one)."""
    tree = _tree(ws)
    writes = _staged_files(workspace)
    links = [f.path for f in workspace.files if f.link is not None]
    if links:
        logger.warning("%d symbolic link(s) not recreated in remote workspace %s: %s", len(links), root, links[:5])
    listing: dict[str, Any] = await tree.list_tree(root)
    if listing.get("files") or listing.get("links"):
        raise ConfigError(f"remote workspace {root} is not empty; a session is imported into a fresh one")
    restored, _deleted, failed = await tree.apply_files(root, deletes=[], writes=writes)
    if failed:
        first = failed[0]
        raise SandboxError(f"writing the imported workspace failed at {first.get('path')}: {first.get('error')}")
    return len(restored)


def _staged_files(workspace: WorkspacePack) -> dict[str, tuple[bytes, int | None]]:
    """path -> (bytes, mode) of every regular file the document describes. A tree document is its files; a git one
    is cloned and overlaid in a host staging directory (by the host materializer, with its checks), then read."""
    if workspace.kind == "tree":
        return {f.path: (f.data, f.mode) for f in workspace.files if f.link is None}
    with tempfile.TemporaryDirectory(prefix="dexa-import-") as tmp:
        staged = materialize(workspace, os.path.join(tmp, "ws"))
        return dict(_read_tree(str(staged)))


def _read_tree(root: str) -> Iterator[tuple[str, tuple[bytes, int | None]]]:
    # Our own fresh staging directory, but the overlay may hold links: never followed, never sent.
    for here, dirs, names in os.walk(root, followlinks=False):
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(here, d))]
        for name in names:
            full = os.path.join(here, name)
            st = os.lstat(full)
            if not stat_mod.S_ISREG(st.st_mode):
                continue
            with open(full, "rb") as fh:
                data = fh.read()
            yield os.path.relpath(full, root).replace(os.sep, "/"), (data, stat_mod.S_IMODE(st.st_mode))
