"""Whole-tree operations for checkpoints and rewind, each a bounded number of round trips to the sandbox.

A checkpoint of a remote workspace must not cost a round trip per file. So:

    list_tree(root)            one exec: every file's (path, mtime_ns, size, inode, mode), the symlinks, and the
                               text of every .gitignore (the host applies the ignore rules: the sandbox has no
                               gitignore matcher, and the control plane must decide what is captured anyway)
    read_files(root, rels)     one exec per batch (<= BATCH_BYTES of content), base64 in JSON
    apply_files(root, ...)     one upload + one exec per batch: deletes, writes with permission bits, pruning
                               of directories the deletes emptied

The scripts run with the sandbox's python3. They never follow a symlink while writing or deleting (a link in the
way is replaced, not written through), which keeps a rewind inside the workspace even if the tree changed since
the listing.
"""

from __future__ import annotations

import base64
import json
import posixpath
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from dexa.core.errors import SandboxError

BATCH_BYTES = 16 * 1024 * 1024
MAX_LISTED = 500_000  # entries; beyond that the listing says `truncated` and the checkpoint records the cut

TREE = r"""
import base64, json, os, stat, sys, time

def listing(root, prune, cap):
    out = {"now_ns": time.time_ns(), "files": [], "links": [], "gitignores": {}, "truncated": False}
    count = 0
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        full = os.path.join(root, rel_dir) if rel_dir else root
        try: entries = list(os.scandir(full))
        except OSError: continue
        for e in entries:
            rel = rel_dir + "/" + e.name if rel_dir else e.name
            path = os.path.join(full, e.name)
            if e.name == ".git" or path in prune: continue
            count += 1
            if count > cap: out["truncated"] = True; return out
            try: st = e.stat(follow_symlinks=False)
            except OSError: continue
            if stat.S_ISLNK(st.st_mode): out["links"].append(rel)
            elif stat.S_ISDIR(st.st_mode): stack.append(rel)
            elif stat.S_ISREG(st.st_mode):
                out["files"].append([rel, st.st_mtime_ns, st.st_size, st.st_ino, stat.S_IMODE(st.st_mode)])
                if e.name == ".gitignore":
                    try:
                        with open(path, "rb") as fh: text = fh.read(1 << 20).decode("utf-8", "replace")
                    except OSError: text = ""
                    out["gitignores"][rel_dir] = [[st.st_mtime_ns, st.st_size, st.st_ino], text]
    return out

def no_follow_parent(root, rel):
    # Refuse paths whose parents are links: the write stays where the listing saw the tree.
    parts = rel.split("/")
    cur = root
    for part in parts[:-1]:
        cur = os.path.join(cur, part)
        try:
            if stat.S_ISLNK(os.lstat(cur).st_mode): raise OSError("a symlink is in the way: " + cur)
        except FileNotFoundError: return
    return

def read_files(root, rels, limit):
    out = {}
    for rel in rels:
        path = os.path.join(root, rel)
        try:
            no_follow_parent(root, rel)
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode) or st.st_size > limit: out[rel] = None; continue
                chunks = []; size = 0
                while True:
                    b = os.read(fd, 1 << 20)
                    if not b: break
                    size += len(b)
                    if size > limit: chunks = None; break
                    chunks.append(b)
            finally: os.close(fd)
            out[rel] = None if chunks is None else base64.b64encode(b"".join(chunks)).decode()
        except OSError: out[rel] = None
    return out

def remove(path):
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode):
        import shutil; shutil.rmtree(path)
    else: os.unlink(path)

def apply(root, doc):
    restored, deleted, failed = [], [], []
    for rel in doc["deletes"]:
        try:
            no_follow_parent(root, rel); remove(os.path.join(root, rel))
        except FileNotFoundError: pass
        except OSError as exc: failed.append({"path": rel, "error": "could not delete: %s" % exc}); continue
        if rel not in doc["rewritten"]: deleted.append(rel)
    keep = set(doc.get("keep", []))
    for rel in sorted({os.path.dirname(p) for p in doc["deletes"] if "/" in p}, key=lambda d: -d.count("/")):
        while rel and rel not in keep:
            try: os.rmdir(os.path.join(root, rel))
            except OSError: break
            rel = os.path.dirname(rel)
    for rel, (data, mode) in sorted(doc["writes"].items()):
        path = os.path.join(root, rel)
        try:
            no_follow_parent(root, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            try:
                if not stat.S_ISREG(os.lstat(path).st_mode): remove(path)
            except FileNotFoundError: pass
            tmp = path + ".dexa-restore"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
            try: os.write(fd, base64.b64decode(data)) if data else None
            finally: os.close(fd)
            if mode is not None: os.chmod(tmp, mode)
            os.replace(tmp, path)
            restored.append(rel)
        except OSError as exc: failed.append({"path": rel, "error": "could not write: %s" % exc})
    return {"restored": restored, "deleted": deleted, "failed": failed}

def main(argv):
    mode, root = argv[0], argv[1]
    if mode == "list": out = listing(root, set(argv[3:]), int(argv[2]))
    elif mode == "read":
        with open(argv[3]) as fh: rels = json.load(fh)
        os.unlink(argv[3]); out = read_files(root, rels, int(argv[2]))
    elif mode == "apply":
        with open(argv[2]) as fh: doc = json.load(fh)
        os.unlink(argv[2]); out = apply(root, doc)
    else: raise SystemExit("unknown mode " + mode)
    sys.stdout.write(json.dumps(out)); sys.stdout.flush()

main(sys.argv[1:])
"""


class TreeOps:
    """Mixed into ModalSandbox: the optional tree capability dexa.checkpoints.remote looks for."""

    root: str

    @property
    def control_dir(self) -> str:
        raise NotImplementedError

    def resolve(self, path: str) -> str:
        raise NotImplementedError

    async def _call(
        self,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
        sink: Any = None,
    ) -> tuple[int, str, str]:
        raise NotImplementedError

    async def _fs(self, op: str, *args: Any, path: str, **kwargs: Any) -> Any:
        raise NotImplementedError

    async def _tree(self, *args: str) -> dict[str, Any]:
        code, out, err = await self._call(("python3", "-c", TREE, *args), timeout_s=600)
        if code != 0:
            raise SandboxError(f"workspace tree `{args[0]}` failed with {code}: {err[-800:]}")
        return json.loads(out or "{}")

    async def _upload(self, payload: object) -> str:
        path = posixpath.join(self.control_dir, f"tree-{uuid.uuid4().hex}.json")
        await self._fs("write_bytes", json.dumps(payload).encode(), path, path=path)  # the control dir exists
        return path

    async def list_tree(self, root: str) -> dict[str, Any]:
        """{"now_ns", "files": [[rel, mtime_ns, size, ino, mode]], "links": [rel], "gitignores": {dir: [key, text]},
        "truncated"}; the control directory (marker, journals) is never listed."""
        return await self._tree("list", self.resolve(root), str(MAX_LISTED), self.control_dir)

    async def read_files(self, root: str, rels: Sequence[str], *, limit: int) -> dict[str, bytes | None]:
        """Content of each path (None: gone, not a regular file, a link, or over `limit`), in one exec per call;
        callers batch by size (BATCH_BYTES)."""
        if not rels:
            return {}
        doc = await self._tree("read", self.resolve(root), str(limit), await self._upload(list(rels)))
        return {rel: None if data is None else base64.b64decode(data) for rel, data in doc.items()}

    async def apply_files(
        self,
        root: str,
        *,
        deletes: Sequence[str],
        writes: Mapping[str, tuple[bytes, int | None]],
        keep_dirs: Sequence[str] = (),
    ) -> tuple[list[str], list[str], list[dict[str, str]]]:
        """Delete, prune emptied directories (except keep_dirs), then write; returns (restored, deleted, failed)."""
        restored: list[str] = []
        deleted: list[str] = []
        failed: list[dict[str, str]] = []
        batches: list[dict[str, tuple[bytes, int | None]]] = [{}]
        size = 0
        for rel, (data, mode) in sorted(writes.items()):
            if size + len(data) > BATCH_BYTES and batches[-1]:
                batches.append({})
                size = 0
            batches[-1][rel] = (data, mode)
            size += len(data)
        for i, batch in enumerate(batches):
            payload = {
                "deletes": list(deletes) if i == 0 else [],
                "rewritten": sorted(writes) if i == 0 else [],
                "writes": {rel: [base64.b64encode(d).decode(), m] for rel, (d, m) in batch.items()},
                "keep": list(keep_dirs),
            }
            doc = await self._tree("apply", self.resolve(root), await self._upload(payload))
            restored += doc.get("restored", [])
            deleted += doc.get("deleted", [])
            failed += doc.get("failed", [])
        return restored, deleted, failed
