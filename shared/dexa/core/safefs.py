"""No-follow, directory-fd-relative file access under a set of roots: how the control plane touches workspace paths.

Why: sandboxed processes share the workspace with the control plane and can swap any directory for a symlink at any
moment, so "realpath, check, then open by path" is a race (a raced rewind deleted host files; a raced Write created
them). Here a path is walked one component at a time from an fd of its root, each directory opened with O_NOFOLLOW
relative to its parent's fd (openat-style). The kernel never resolves a symlink the sandbox controls; only this module
does, and only to a target that stays inside the roots.

Symlinks, decided per call:
- follow=True (file tools, like Claude Code's Read/Write/Edit on in-workspace links): a link is resolved here, in user
  space. Its target is joined lexically to the link's directory, must land inside a root, and the walk restarts from
  that root's fd, so a link swapped in mid-walk can only ever redirect inside the roots. Links out are refused.
- follow=False (checkpoint snapshot, restore and rewind): any symlink component is refused (code "symlink"), so a
  restore never writes or deletes through one; a directory swapped for a link makes that one path fail, nothing else.
- `remove` and `rmdir` never follow the last component: a link is unlinked, never its target.

Reads open with O_NONBLOCK (a FIFO cannot block the open), refuse everything but regular files after fstat, refuse a
file whose size is over the caller's limit before reading a byte, and never read more than limit + 1 bytes.

Errors: SandboxError (codes outside_workspace, symlink, invalid_path, not_regular_file, file_too_large) for refusals;
OSError (FileNotFoundError, NotADirectoryError, ...) with the caller's path as filename for ordinary failures.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat as stat_mod
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from dexa.core.errors import SandboxError

T = TypeVar("T")

MAX_HOPS = 40  # the kernel's own limit on symlinks in one lookup
_CHUNK = 1 << 20
_DIR = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_LIST = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_WRITE = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
# A symlink met with O_NOFOLLOW: ELOOP for a plain open, ENOTDIR when O_DIRECTORY is asked for too.
_LINK_ERRNOS = (errno.ELOOP, errno.ENOTDIR)

Op = Callable[[int, str, str], T]  # (fd of the parent directory, name in it, logical full path) -> result


class _Link(Exception):  # control flow inside a walk; never escapes this module
    def __init__(self, where: str, resolved: str) -> None:
        super().__init__(where)
        self.where = where
        self.resolved = resolved


def check_path(path: object) -> str:
    """`path` normalised (lexically), or SandboxError naming it when it is empty, relative or not a valid path."""
    if not isinstance(path, str) or not path:
        raise SandboxError("A path is required", code="invalid_path")
    if "\x00" in path:
        raise SandboxError(f"Invalid path {path!r}: it contains a NUL byte", code="invalid_path")
    try:
        path.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise SandboxError(f"Invalid path {path!r}: it is not valid text", code="invalid_path") from None
    if not path.startswith("/"):
        raise SandboxError(f"Path must be absolute, got {path!r}", code="invalid_path")
    norm = os.path.normpath(path)
    return "/" + norm.lstrip("/")  # normpath keeps a leading "//"


def describe(st: os.stat_result) -> str:
    mode = st.st_mode
    for test, name in (
        (stat_mod.S_ISDIR, "a directory"),
        (stat_mod.S_ISFIFO, "a FIFO (named pipe)"),
        (stat_mod.S_ISSOCK, "a socket"),
        (stat_mod.S_ISCHR, "a character device"),
        (stat_mod.S_ISBLK, "a block device"),
        (stat_mod.S_ISLNK, "a symlink"),
    ):
        if test(mode):
            return name
    return "not a regular file"


class SafeFS:
    """File operations confined to `roots` (real paths, trusted: only what is below them is walked safely)."""

    def __init__(self, roots: Sequence[str]) -> None:
        self.roots = tuple(roots)

    def locate(self, path: str, *, shown: str | None = None) -> tuple[str, list[str]]:
        """(the innermost root holding `path`, the components below it), by lexical containment only."""
        norm = check_path(path)
        best = ""
        for root in self.roots:
            if (norm == root or norm.startswith(root.rstrip("/") + "/")) and len(root) > len(best):
                best = root
        if not best:
            via = "" if shown is None else f" (it resolves to {norm} through a symlink)"
            raise SandboxError(
                f"Access denied: {shown or path} is outside the workspace{via}; allowed roots: {list(self.roots)}",
                code="outside_workspace",
            )
        return best, [p for p in norm[len(best) :].split("/") if p]

    def contains(self, path: str) -> bool:
        try:
            self.locate(path)
        except SandboxError:
            return False
        return True

    # ------------------------------------------------------------ the walk

    def at(self, path: str, op: Op[T], *, follow: bool, follow_last: bool = True, create: bool = False) -> T:
        """op(parent fd, last name, logical path) on `path`, every directory above it entered without following.

        create: make missing parent directories (mkdir relative to the parent's fd). follow_last: a link as the last
        component is resolved (op sees the target); op itself must open or stat with no-follow.
        """
        target = path
        for _ in range(MAX_HOPS + 1):
            root, parts = self.locate(target, shown=None if target == path else path)
            try:
                return self._walk_once(root, parts, op, follow_last=follow_last, create=create)
            except _Link as link:
                if not follow:
                    raise SandboxError(
                        f"Refusing {path}: {link.where} is a symlink, and this operation never follows symlinks",
                        code="symlink",
                    ) from None
                target = link.resolved
            except OSError as exc:
                exc.filename = path
                raise
        raise SandboxError(f"Refusing {path}: more than {MAX_HOPS} symlinks to follow", code="symlink")

    def _walk_once(self, root: str, parts: list[str], op: Op[T], *, follow_last: bool, create: bool) -> T:
        fd = os.open(root, _DIR)
        try:
            here = root
            for i, name in enumerate(parts[:-1]):
                child = self._enter(fd, here, name, parts[i + 1 :], create)
                os.close(fd)
                fd, here = child, os.path.join(here, name)
            name = parts[-1] if parts else "."
            full = os.path.join(here, name) if parts else root
            if follow_last and parts and _is_link(fd, name):
                raise _Link(full, _resolve(fd, here, name, []))
            try:
                return op(fd, name, full)
            except OSError as exc:
                if follow_last and parts and exc.errno in _LINK_ERRNOS and _is_link(fd, name):
                    raise _Link(full, _resolve(fd, here, name, [])) from None  # swapped in after the check
                raise
        finally:
            os.close(fd)

    @staticmethod
    def _enter(fd: int, here: str, name: str, rest: list[str], create: bool) -> int:
        for _ in range(8):  # a racing process may delete what we just made; give up after a few rounds
            try:
                return os.open(name, _DIR, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                try:
                    os.mkdir(name, 0o777, dir_fd=fd)
                except FileExistsError:
                    pass
            except OSError as exc:
                if exc.errno in _LINK_ERRNOS and _is_link(fd, name):
                    raise _Link(os.path.join(here, name), _resolve(fd, here, name, rest)) from None
                raise
        raise OSError(errno.EAGAIN, "directory keeps disappearing", os.path.join(here, name))

    # ------------------------------------------------------------ operations

    def stat(self, path: str, *, follow: bool = True) -> os.stat_result:
        """The stat of `path`; with follow a final in-root link is resolved, without it the link itself is seen."""
        return self.at(
            path, lambda fd, name, _: os.stat(name, dir_fd=fd, follow_symlinks=False), follow=follow, follow_last=follow
        )

    def read(self, path: str, *, limit: int, follow: bool = True) -> bytes:
        """At most `limit` bytes of a regular file; SandboxError for larger files, FIFOs, sockets and devices."""

        def op(fd: int, name: str, full: str) -> bytes:
            try:
                handle = os.open(name, _READ, dir_fd=fd)
            except OSError as exc:
                if exc.errno == errno.ENXIO:  # a socket, or a device with nothing behind it
                    raise _not_regular(path, os.stat(name, dir_fd=fd, follow_symlinks=False)) from None
                raise
            try:
                st = os.fstat(handle)
                if stat_mod.S_ISDIR(st.st_mode):
                    raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
                if not stat_mod.S_ISREG(st.st_mode):
                    raise _not_regular(path, st)
                if st.st_size > limit:
                    raise too_large(path, st.st_size, limit)
                return _read_capped(handle, st.st_size, limit, path)
            finally:
                os.close(handle)

        return self.at(path, op, follow=follow)

    def write(
        self, path: str, data: bytes, *, follow: bool = True, create_parents: bool = True, mode: int | None = None
    ) -> None:
        """Replace the content of the regular file `path` (created 0666 & ~umask); `mode` is then set via its fd."""

        def op(fd: int, name: str, full: str) -> None:
            try:
                handle = os.open(name, _WRITE, 0o666, dir_fd=fd)
            except OSError as exc:
                if exc.errno == errno.ENXIO:  # a FIFO with no reader
                    raise _not_regular(path, os.stat(name, dir_fd=fd, follow_symlinks=False)) from None
                raise
            try:
                st = os.fstat(handle)
                if not stat_mod.S_ISREG(st.st_mode):
                    raise _not_regular(path, st)  # before truncating: a FIFO or device is never written
                os.ftruncate(handle, 0)
                view = memoryview(data)
                while view:
                    view = view[os.write(handle, view) :]
                if mode is not None:
                    os.fchmod(handle, stat_mod.S_IMODE(mode))
            finally:
                os.close(handle)

        self.at(path, op, follow=follow, create=create_parents)

    def remove(self, path: str, *, follow: bool = True) -> None:
        """Delete a file, a link (never its target) or a whole directory tree (fd-relative, as shutil.rmtree does)."""

        def op(fd: int, name: str, full: str) -> None:
            if name == ".":
                raise SandboxError(f"Refusing to remove the workspace root {path}")
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if stat_mod.S_ISDIR(st.st_mode):
                # rmtree with dir_fd is the fd-based walk that re-checks each directory it enters against its lstat.
                shutil.rmtree(name, dir_fd=fd)
            else:
                os.unlink(name, dir_fd=fd)

        self.at(path, op, follow=follow, follow_last=False)

    def rmdir(self, path: str, *, follow: bool = False) -> None:
        """Remove an empty directory; a link in its place is an error (ENOTDIR), never followed."""

        def op(fd: int, name: str, full: str) -> None:
            if name == ".":
                raise SandboxError(f"Refusing to remove the workspace root {path}")
            os.rmdir(name, dir_fd=fd)

        self.at(path, op, follow=follow, follow_last=False)

    def walk(self, top: str, *, follow: bool = True) -> list[str]:
        """Every regular file under `top` (absolute logical paths). Symlinked directories are never entered; with
        follow, a link to a regular file inside the roots is listed (at the link's path), like ripgrep's default."""

        def op(fd: int, name: str, full: str) -> list[str]:
            handle = os.open(name, _LIST, dir_fd=fd)
            return list(self._files_under(handle, full, follow))

        return self.at(top, op, follow=follow)

    def _files_under(self, top_fd: int, top: str, follow: bool) -> Iterator[str]:
        for here, _, entries in walk_fd(top_fd, top):
            for entry in entries:
                full = os.path.join(here, entry.name)
                try:
                    if entry.is_file(follow_symlinks=False):
                        yield full
                    elif follow and entry.is_symlink() and stat_mod.S_ISREG(self.stat(full).st_mode):
                        yield full
                except (OSError, SandboxError):
                    continue  # gone, or a link out of the roots: not part of the listing


Descend = Callable[[str, "os.DirEntry[str]"], bool]


def walk_fd(top_fd: int, top: str, descend: Descend | None = None) -> Iterator[tuple[str, int, list[os.DirEntry[str]]]]:
    """(path, fd, entries) for each directory under top_fd, parents first; closes top_fd.

    Subdirectories are entered with O_NOFOLLOW relative to their parent's fd, so a directory swapped for a symlink is
    skipped, never followed. `descend(path, entry)` is asked after the parent was yielded (the caller may load rules
    from it first). Only the fds of the current branch are open: a wide tree cannot exhaust the fd limit. Entries are
    valid (stat-able) until the walk moves on.
    """
    stack: list[tuple[int, str, Iterator[os.DirEntry[str]]]] = []
    fd, here = top_fd, top
    try:
        while True:
            if fd >= 0:
                try:
                    entries = list(os.scandir(fd))
                except OSError:
                    entries = []
                stack.append((fd, here, iter(entries)))
                yield here, fd, entries
                children = [
                    e
                    for e in entries
                    if _is_dir_entry(e) and (descend is None or descend(os.path.join(here, e.name), e))
                ]
                stack[-1] = (fd, here, iter(children))
                fd = -1
            if not stack:
                return
            parent, parent_path, children_left = stack[-1]
            child = next(children_left, None)
            if child is None:
                os.close(stack.pop()[0])
                continue
            try:
                fd = os.open(child.name, _LIST, dir_fd=parent)
            except OSError:
                continue  # gone, or swapped for a link since the listing
            here = os.path.join(parent_path, child.name)
    finally:
        if fd >= 0 and not any(fd == f for f, _, _ in stack):
            os.close(fd)
        for f, _, _ in stack:
            os.close(f)


def _is_dir_entry(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _is_link(fd: int, name: str) -> bool:
    try:
        return stat_mod.S_ISLNK(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _resolve(fd: int, here: str, name: str, rest: list[str]) -> str:
    """Where the link `name` in directory `here` points, with the unwalked components appended (lexically)."""
    try:
        target = os.readlink(name, dir_fd=fd)
    except OSError:
        target = name  # changed under us: walk the same path again (bounded by MAX_HOPS)
    return os.path.normpath(os.path.join(here, target, *rest))


def _not_regular(path: str, st: os.stat_result) -> SandboxError:
    return SandboxError(
        f"{path} is {describe(st)}, not a regular file; only regular files can be read or written",
        code="not_regular_file",
    )


def too_large(path: str, size: int, limit: int) -> SandboxError:
    return SandboxError(f"{path} is too large ({size:,} bytes; the limit is {limit:,} bytes)", code="file_too_large")


def _read_capped(handle: int, size: int, limit: int, path: str) -> bytes:
    # Sized from fstat, so small files cost one small read; a file growing while read stops one byte past the limit.
    parts: list[bytes] = []
    total = 0
    while total <= limit:
        want = size + 1 - total if total <= size else 65536
        chunk = os.read(handle, max(1, min(want, _CHUNK, limit + 1 - total)))
        if not chunk:
            break
        parts.append(chunk)
        total += len(chunk)
    if total > limit:
        raise too_large(path, total, limit)
    return b"".join(parts)
