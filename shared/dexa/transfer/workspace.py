"""A workspace as it is, packed on one machine and materialized on another, byte for byte and mode for mode.

A git workspace travels as a git bundle of its current branch plus an overlay: every file whose bytes, type or mode
differ from that commit (modified, untracked but not ignored), and the tracked paths that are gone. Anything else
travels as a tree snapshot: the overlay alone, holding every file. Ignored files and dependency directories
(node_modules, .venv, target...) stay behind, as they do in checkpoints; tools regenerate them.

Packing never runs git inside the workspace: its `.git/config` belongs to whoever wrote the workspace (the agent),
and settings such as `core.fsmonitor` would run on this host. Git only fetches from it over the pack protocol into a
host-side staging repository (as dexa.code.transport pushes), and the overlay is found by hashing the files here,
walked fd-relative without following links (dexa.core.safefs). Materializing clones the bundle into a new
directory and writes the overlay the same way; an entry naming `.git`, climbing out, or passing through a link is
refused.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat as stat_mod
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from dexa.adapters.git import git_env
from dexa.checkpoints.ignore import IgnoreRules
from dexa.core.errors import ConfigError, SandboxError
from dexa.core.safefs import SafeFS, walk_fd

PackKind = Literal["git", "tree"]
# A workspace is moved whole, in one request: past this it is a repository to clone, not a session to move.
MAX_PACK_BYTES = 256 * 1024 * 1024
DETACHED_BRANCH = "dexa-detached"
GIT_TIMEOUT_S = 600.0
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_LIST = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True, slots=True, kw_only=True)
class FileEntry:
    """One overlay entry: a regular file (data, mode) or a symbolic link (link target)."""

    path: str
    mode: int  # permission bits of a regular file; 0 for a link
    data: bytes = b""
    link: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "mode": self.mode}
        if self.link is not None:
            out["link"] = self.link
        else:
            out["data"] = base64.b64encode(self.data).decode("ascii")
        return out

    @staticmethod
    def from_dict(doc: dict[str, Any]) -> FileEntry:
        try:
            link = doc.get("link")
            return FileEntry(
                path=check_rel(str(doc["path"])),
                mode=int(doc.get("mode", 0o644)) & 0o7777,
                data=b"" if link is not None else base64.b64decode(str(doc.get("data", "")), validate=True),
                link=None if link is None else str(link),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"workspace.files: malformed entry ({exc})") from exc


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkspacePack:
    kind: PackKind
    branch: str | None = None  # the session branch (git); DETACHED_BRANCH when HEAD was detached
    head: str | None = None  # the commit the overlay is relative to
    bundle: bytes = b""
    files: tuple[FileEntry, ...] = ()
    deleted: tuple[str, ...] = ()
    # Permission bits of every regular file, overlay or not: a checkout's umask must not decide them.
    modes: dict[str, int] = field(default_factory=dict[str, int])

    @property
    def size(self) -> int:
        return len(self.bundle) + sum(len(f.data) for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "branch": self.branch,
            "head": self.head,
            "bundle": base64.b64encode(self.bundle).decode("ascii"),
            "files": [f.to_dict() for f in self.files],
            "deleted": list(self.deleted),
            "modes": dict(self.modes),
        }

    @staticmethod
    def from_dict(doc: dict[str, Any]) -> WorkspacePack:
        kind = doc.get("kind")
        if kind not in ("git", "tree"):
            raise ConfigError(f"workspace.kind: expected 'git' or 'tree', got {str(kind)[:40]!r}")
        branch = doc.get("branch")
        if kind == "git" and not _valid_branch(branch):
            raise ConfigError(f"workspace.branch: {str(branch)[:100]!r} is not a usable branch name")
        try:
            bundle = base64.b64decode(str(doc.get("bundle") or ""), validate=True)
            modes = {check_rel(str(k)): int(v) & 0o7777 for k, v in dict(doc.get("modes") or {}).items()}
            deleted = tuple(check_rel(str(p)) for p in doc.get("deleted") or [])
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"workspace: malformed bundle, modes or deleted list ({exc})") from exc
        files = tuple(FileEntry.from_dict(dict(f)) for f in doc.get("files") or [])
        return WorkspacePack(
            kind=kind,
            branch=branch,
            head=doc.get("head"),
            bundle=bundle,
            files=files,
            deleted=deleted,
            modes=modes,
        )


def check_rel(path: str) -> str:
    """A workspace-relative path that stays inside it and never names git's own directory."""
    parts = path.split("/")
    if (
        not path
        or path.startswith("/")
        or "\x00" in path
        or any(p in ("", ".", "..") for p in parts)
        or any(p.lower() == ".git" for p in parts)
    ):
        raise ConfigError(f"workspace path {path[:200]!r} is not a plain relative path inside the workspace")
    return path


def _valid_branch(name: object) -> bool:
    return (
        isinstance(name, str)
        and 0 < len(name) <= 200
        and not name.startswith(("-", "/"))
        and ".." not in name
        and all(c.isalnum() or c in "-_./" for c in name)
    )


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\x00" % len(data) + data, usedforsecurity=False).hexdigest()


# ---------------------------------------------------------------- packing


@dataclass(frozen=True, slots=True)
class _Found:
    rel: str
    mode: int  # full st_mode
    data: bytes  # file content, or the link target's bytes
    ignored: bool  # by a .gitignore or as a dependency directory's content


def _walk(root: str, tracked_dirs: frozenset[str]) -> Iterator[_Found]:
    """Regular files and links under root, fd-relative and no-follow. An ignored directory is only entered when
    git tracks something in it; what is found there is marked ignored (tracked files still count)."""
    rules = IgnoreRules()
    ignored_dirs: set[str] = set()
    top = os.open(root, _LIST)

    def rel_of(path: str) -> str:
        return os.path.relpath(path, root).replace(os.sep, "/") if path != root else ""

    def descend(path: str, entry: os.DirEntry[str]) -> bool:
        rel = rel_of(path)
        if entry.name == ".git":
            return False
        parent = rel.rpartition("/")[0]
        if parent in ignored_dirs or rules.ignored(rel, is_dir=True):
            ignored_dirs.add(rel)
            return rel in tracked_dirs
        return True

    for here, fd, entries in walk_fd(top, root, descend):
        base = rel_of(here)
        if any(e.name == ".gitignore" for e in entries):
            st = os.stat(".gitignore", dir_fd=fd, follow_symlinks=False)
            if stat_mod.S_ISREG(st.st_mode):
                rules.load_dir(base, os.path.join(here, ".gitignore"), (st.st_mtime_ns, st.st_size, st.st_ino))
        for entry in entries:
            rel = f"{base}/{entry.name}" if base else entry.name
            st = os.stat(entry.name, dir_fd=fd, follow_symlinks=False)
            if stat_mod.S_ISLNK(st.st_mode):
                data = os.fsencode(os.readlink(entry.name, dir_fd=fd))
            elif stat_mod.S_ISREG(st.st_mode):
                data = _read(fd, entry.name, rel)
            else:
                continue  # directories are walked; FIFOs, sockets and devices do not travel
            ignored = base in ignored_dirs or rules.ignored(rel, is_dir=False)
            yield _Found(rel, st.st_mode, data, ignored)


def _read(dir_fd: int, name: str, rel: str) -> bytes:
    handle = os.open(name, _READ, dir_fd=dir_fd)
    try:
        if not stat_mod.S_ISREG(os.fstat(handle).st_mode):
            raise SandboxError(f"{rel} changed into something other than a file while it was packed")
        chunks: list[bytes] = []
        while chunk := os.read(handle, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(handle)


def _entry(found: _Found) -> FileEntry:
    if stat_mod.S_ISLNK(found.mode):
        return FileEntry(path=found.rel, mode=0, link=os.fsdecode(found.data))
    return FileEntry(path=found.rel, mode=stat_mod.S_IMODE(found.mode), data=found.data)


def _head_branch(git_dir: Path) -> str | None:
    """The branch HEAD names, read as a file (git is not run in the workspace); None when detached."""
    try:
        head = (git_dir / "HEAD").read_text(errors="replace").strip()
    except OSError:
        return None
    if head.startswith("ref: refs/heads/"):
        name = head.removeprefix("ref: refs/heads/")
        return name if _valid_branch(name) else None
    return None


def _run_git(args: list[str], *, cwd: str | None = None) -> tuple[int, bytes, bytes]:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, env=git_env(), capture_output=True, timeout=GIT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return 124, b"", f"git {args[0]} timed out after {GIT_TIMEOUT_S}s".encode()
    return done.returncode, done.stdout, done.stderr


def _git(args: list[str], *, cwd: str | None = None, what: str) -> bytes:
    code, out, err = _run_git(args, cwd=cwd)
    if code:
        raise ConfigError(f"{what} failed: {err.decode(errors='replace').strip()[:500]}")
    return out


def pack(cwd: str | os.PathLike[str]) -> WorkspacePack:
    """The workspace at cwd as it is now. Blocking: async callers run it in a worker thread."""
    root = os.path.realpath(cwd)
    git_dir = Path(root) / ".git"
    if git_dir.is_dir() and not git_dir.is_symlink():
        packed = _pack_git(root, git_dir)
        if packed is not None:
            return packed
    files: list[FileEntry] = []
    budget = _Budget(root)
    for found in _walk(root, frozenset()):
        if not found.ignored:
            files.append(budget.take(_entry(found)))
    return WorkspacePack(
        kind="tree",
        files=tuple(files),
        modes={f.path: f.mode for f in files if f.link is None},
    )


def _pack_git(root: str, git_dir: Path) -> WorkspacePack | None:
    """None for a repository with no commit yet (it travels as a tree snapshot)."""
    branch = _head_branch(git_dir) or DETACHED_BRANCH
    ref = f"refs/heads/{branch}"
    with tempfile.TemporaryDirectory(prefix="dexa-pack-") as tmp:
        staging = os.path.join(tmp, "staging.git")
        _git(["init", "-q", "--bare", staging], what="git init (staging)")
        # `file://` forces the pack protocol: no hardlinks into, and no config of, the workspace's repository.
        code, _, err = _run_git(["fetch", "-q", "--no-tags", f"file://{root}", f"+HEAD:{ref}"], cwd=staging)
        if code:
            if b"couldn't find remote ref HEAD" in err or b"does not have any commits" in err:
                return None
            raise ConfigError(f"git fetch from {root} failed: {err.decode(errors='replace').strip()[:500]}")
        _git(["symbolic-ref", "HEAD", ref], cwd=staging, what="git symbolic-ref")
        head = (_git(["rev-parse", ref], cwd=staging, what="git rev-parse")).decode().strip()
        listing = _git(["ls-tree", "-r", "-z", "--full-tree", ref], cwd=staging, what="git ls-tree")
        bundle_path = os.path.join(tmp, "ws.bundle")
        _git(["bundle", "create", "-q", bundle_path, ref], cwd=staging, what="git bundle create")
        bundle = Path(bundle_path).read_bytes()
    tracked: dict[str, tuple[str, str]] = {}  # path -> (git mode, blob id)
    for record in listing.split(b"\x00"):
        if not record:
            continue
        meta, _, name = record.partition(b"\t")
        mode, kind, oid = meta.decode().split()
        if kind == "blob":
            tracked[os.fsdecode(name)] = (mode, oid)
    tracked_dirs = frozenset(
        "/".join(p.split("/")[:i]) for p in tracked for i in range(1, p.count("/") + 1)
    ) | frozenset({""})
    seen: set[str] = set()
    files: list[FileEntry] = []
    budget = _Budget(root, used=len(bundle))
    modes: dict[str, int] = {}
    for found in _walk(root, tracked_dirs):
        is_tracked = found.rel in tracked
        if not is_tracked and found.ignored:
            continue
        seen.add(found.rel)
        if stat_mod.S_ISREG(found.mode):
            modes[found.rel] = stat_mod.S_IMODE(found.mode)
        if is_tracked and _same_as_tracked(found, *tracked[found.rel]):
            continue
        files.append(budget.take(_entry(found)))
    deleted = tuple(sorted(p for p in tracked if p not in seen))
    return WorkspacePack(
        kind="git", branch=branch, head=head, bundle=bundle, files=tuple(files), deleted=deleted, modes=modes
    )


@dataclass(slots=True)
class _Budget:
    root: str
    used: int = 0

    def take(self, entry: FileEntry) -> FileEntry:
        self.used += len(entry.data)
        if self.used > MAX_PACK_BYTES:
            raise ConfigError(
                f"workspace {self.root} packs to more than {MAX_PACK_BYTES // (1024 * 1024)} MiB (at {entry.path}), "
                "over what a session move carries; commit or ignore large files first"
            )
        return entry


def _same_as_tracked(found: _Found, git_mode: str, oid: str) -> bool:
    if stat_mod.S_ISLNK(found.mode):
        return git_mode == "120000" and git_blob_id(found.data) == oid
    executable = bool(found.mode & 0o100)
    expected = "100755" if executable else "100644"
    return git_mode == expected and git_blob_id(found.data) == oid


# ---------------------------------------------------------------- materializing


def materialize(workspace: WorkspacePack, dest: str | os.PathLike[str]) -> Path:
    """Create dest (it must not exist, or be an empty directory) holding the packed workspace. Blocking."""
    target = Path(os.path.abspath(dest))
    if target.is_symlink() or (target.exists() and (not target.is_dir() or any(target.iterdir()))):
        raise ConfigError(f"{target} already exists and is not an empty directory; choose another --dir")
    target.parent.mkdir(parents=True, exist_ok=True)
    if workspace.kind == "git":
        with tempfile.TemporaryDirectory(prefix="dexa-unpack-") as tmp:
            bundle_path = os.path.join(tmp, "ws.bundle")
            Path(bundle_path).write_bytes(workspace.bundle)
            assert workspace.branch is not None  # from_dict and pack guarantee it
            _git(
                ["clone", "-q", "--branch", workspace.branch, bundle_path, str(target)],
                what="git clone of the workspace bundle",
            )
        _git(["remote", "remove", "origin"], cwd=str(target), what="git remote remove")
    else:
        target.mkdir(mode=0o755, exist_ok=True)
    root = str(target.resolve())
    fs = SafeFS([root])
    for rel in workspace.deleted:
        try:
            fs.remove(os.path.join(root, rel), follow=False)
        except FileNotFoundError:
            pass
    for entry in workspace.files:
        _write_entry(fs, root, entry)
    for rel, mode in workspace.modes.items():
        try:
            fs.at(os.path.join(root, rel), lambda fd, name, _full, m=mode: _chmod(fd, name, m), follow=False)
        except FileNotFoundError:
            pass
    return target


def _chmod(dir_fd: int, name: str, mode: int) -> None:
    st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    if stat_mod.S_ISREG(st.st_mode):
        os.chmod(name, mode, dir_fd=dir_fd)


def _write_entry(fs: SafeFS, root: str, entry: FileEntry) -> None:
    def op(fd: int, name: str, _full: str) -> None:
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            st = None
        if st is not None:
            if stat_mod.S_ISDIR(st.st_mode):
                raise ConfigError(f"workspace entry {entry.path} would replace a directory")
            os.unlink(name, dir_fd=fd)  # a link or an old file: never written through
        if entry.link is not None:
            os.symlink(entry.link, name, dir_fd=fd)
            return
        handle = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=fd)
        try:
            view = memoryview(entry.data)
            while view:
                view = view[os.write(handle, view) :]
            os.fchmod(handle, entry.mode)
        finally:
            os.close(handle)

    fs.at(os.path.join(root, entry.path), op, follow=False, follow_last=False, create=True)
