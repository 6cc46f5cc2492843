"""Code rewind: plan the changes that turn the current tree back into a checkpoint's, find external edits, apply.

On a host directory, writing, deleting, permission bits and empty-directory cleanup are fd-relative and never follow a
symlink (dexa.core.safefs): a sandbox process racing the restore cannot redirect it outside the workspace. A remote
workspace restores through the Workspace port.

Nothing is written until every needed blob has been fetched and verified against its hash. A missing or corrupt blob
does not stop the other files: they are restored and the report says `status: "partial"`, names each failed path
and why, so a half-restore is never silent.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio

from dexa.core.errors import DexaError, NotFoundError
from dexa.core.ports import BlobStore, Workspace
from dexa.core.safefs import SafeFS

from .ignore import BACKUP_DIR
from .manifest import Skip, TreeState

logger = logging.getLogger(__name__)

KnownStates = Callable[[], Awaitable[dict[str, set[str]]]]


@dataclass(slots=True, kw_only=True)
class RestorePlan:
    writes: dict[str, str] = field(default_factory=dict)  # path -> digest to restore
    deletes: list[str] = field(default_factory=list)
    unchanged: int = 0
    left_alone: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)


def plan_restore(target: TreeState, current: TreeState) -> RestorePlan:
    """What changes: files to write back, files to delete, and what stays because it is skipped or ignored."""
    plan = RestorePlan()
    target_skipped = {s.path: s for s in target.skipped}
    current_skipped = {s.path: s for s in current.skipped}
    for path, digest in target.files.items():
        if current.files.get(path) == digest:
            plan.unchanged += 1
        else:
            plan.writes[path] = digest
            if current_skipped.get(path, Skip(path=path, reason="")).reason == "symlink":
                plan.deletes.append(path)  # the write must replace the link, not follow it
    for path in current.files.keys() - target.files.keys():
        if path in target_skipped:
            plan.left_alone.append(
                {"path": path, "reason": f"not captured at the checkpoint ({target_skipped[path].reason})"}
            )
        else:
            plan.deletes.append(path)
    for path, skip in current_skipped.items():
        if path not in target.files:
            plan.left_alone.append({"path": path, "reason": f"not captured now ({skip.reason})"})
    # A link standing where the checkpoint has a directory must go, or every write below it would meet the link.
    parents = {"/".join(p.split("/")[:i]) for p in plan.writes for i in range(1, p.count("/") + 1)}
    for path, skip in current_skipped.items():
        if skip.reason == "symlink" and path in parents and path not in plan.deletes:
            plan.deletes.append(path)
            plan.left_alone = [d for d in plan.left_alone if d["path"] != path]
    plan.deletes.sort()
    plan.left_alone.sort(key=lambda d: d["path"])
    return plan


async def find_conflicts(
    plan: RestorePlan, current: TreeState, latest: TreeState | None, known_states: KnownStates
) -> list[str]:
    """Paths the restore would overwrite or delete whose current content Dexa never recorded (external edits).

    Content recorded by any checkpoint of the session is recoverable, so only unrecorded content is a conflict. The
    newest checkpoint is checked first; the full history is loaded only when that is not enough.
    """
    current_skipped = {s.path for s in current.skipped}
    suspects: list[tuple[str, str | None]] = []
    for path in sorted({*plan.writes, *plan.deletes}):
        digest = current.files.get(path)
        if digest is None and path not in current_skipped:
            continue  # absent now: restoring it destroys nothing
        if digest is not None and latest is not None and latest.files.get(path) == digest:
            continue
        suspects.append((path, digest))
    if not suspects:
        return []
    known = await known_states()
    return [path for path, digest in suspects if digest is None or digest not in known.get(path, set())]


def backup_stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


async def keep_copies(workspace: Workspace, root: str, paths: list[str], stamp: str) -> list[dict[str, str]]:
    """Save the current content of each path under .dexa/backups/<stamp>/ before the restore replaces it."""
    kept: list[dict[str, str]] = []
    for path in paths:
        copy = f"{BACKUP_DIR}/{stamp}/{path}"
        data = await workspace.read_bytes(os.path.join(root, path))
        await workspace.write_bytes(os.path.join(root, copy), data)
        kept.append({"path": path, "copy": copy})
    return kept


async def fetch_blobs(blobs: BlobStore, writes: dict[str, str]) -> tuple[dict[str, bytes], list[dict[str, str]]]:
    """Every blob the restore needs, verified; failures are listed instead of raised."""
    contents: dict[str, bytes] = {}
    failed: list[dict[str, str]] = []
    cache: dict[str, bytes] = {}
    for path, digest in sorted(writes.items()):
        data = cache.get(digest)
        if data is None:
            try:
                data = await blobs.get_blob(digest)
            except NotFoundError:
                failed.append({"path": path, "digest": digest, "error": f"content blob {digest} is missing"})
                continue
            if hashlib.sha256(data).hexdigest() != digest:
                failed.append(
                    {
                        "path": path,
                        "digest": digest,
                        "error": f"content blob {digest} is corrupt (its bytes no longer match the hash)",
                    }
                )
                continue
            cache[digest] = data
        contents[path] = data
    return contents, failed


async def apply_plan(
    workspace: Workspace, root: str, plan: RestorePlan, contents: dict[str, bytes], target: TreeState, *, host: bool
) -> tuple[list[str], list[str], list[dict[str, str]]]:
    """Delete, then write. Returns (restored, deleted, failed)."""
    if host:
        return await anyio.to_thread.run_sync(apply_on_host, root, plan, contents, target)
    restored: list[str] = []
    deleted: list[str] = []
    failed: list[dict[str, str]] = []
    for path in plan.deletes:
        try:
            await workspace.remove(os.path.join(root, path))
            if path not in plan.writes:
                deleted.append(path)
        except (OSError, DexaError) as exc:
            failed.append({"path": path, "error": f"could not delete: {exc}"})
    for path, data in sorted(contents.items()):
        try:
            await workspace.write_bytes(os.path.join(root, path), data)
            restored.append(path)
        except (OSError, DexaError) as exc:
            failed.append({"path": path, "error": f"could not write: {exc}"})
    return restored, deleted, failed


def apply_on_host(
    root: str, plan: RestorePlan, contents: dict[str, bytes], target: TreeState
) -> tuple[list[str], list[str], list[dict[str, str]]]:
    """apply_plan on a host directory, every step fd-relative and no-follow (dexa.core.safefs, follow=False).

    A leftover sandbox process may swap any directory for a symlink while this runs: the path that meets the link
    fails (listed in `failed`), nothing is written, deleted or chmod-ed through it, and the other paths go on.
    """
    fs = SafeFS((root,))
    restored: list[str] = []
    deleted: list[str] = []
    failed: list[dict[str, str]] = []
    for path in plan.deletes:
        try:
            fs.remove(os.path.join(root, path), follow=False)  # a link itself goes, never its target
        except FileNotFoundError:
            pass  # already gone: the deletion's goal holds
        except (OSError, DexaError) as exc:
            failed.append({"path": path, "error": f"could not delete: {exc}"})
            continue
        if path not in plan.writes:
            deleted.append(path)
    _prune_empty_dirs(fs, root, plan.deletes, target)
    for path, data in sorted(contents.items()):
        full = os.path.join(root, path)
        try:
            _clear_empty_dir(fs, full)
            mode = target.stat[path][3] if path in target.stat else None
            fs.write(full, data, follow=False, mode=mode)
            restored.append(path)
        except (OSError, DexaError) as exc:
            failed.append({"path": path, "error": f"could not write: {exc}"})
    return restored, deleted, failed


def _clear_empty_dir(fs: SafeFS, full: str) -> None:
    """A directory may stand where the file was; its files were deleted above, so it is empty now."""
    try:
        fs.rmdir(full)
    except (FileNotFoundError, NotADirectoryError):
        pass  # nothing there, a file, or a link (rmdir never follows one; the no-follow write then refuses it)


def _prune_empty_dirs(fs: SafeFS, root: str, deleted: list[str], target: TreeState) -> None:
    """Remove directories the deletions emptied, unless the checkpoint has files under them."""
    keep = {os.path.dirname(p) for p in target.files}
    keep_all = {"/".join(d.split("/")[:i]) for d in keep for i in range(1, d.count("/") + 2)}
    candidates = sorted({os.path.dirname(p) for p in deleted if "/" in p}, key=lambda d: -d.count("/"))
    for rel in candidates:
        while rel and rel not in keep_all:
            try:
                fs.rmdir(os.path.join(root, rel))
            except (OSError, DexaError):
                break  # not empty (ignored or skipped files live there), already gone, or a link now
            rel = os.path.dirname(rel)
