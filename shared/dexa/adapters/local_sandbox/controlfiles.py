"""Read-only control files: what a repo uses to make the HOST run code is never writable from the sandbox.

Inside every workspace root `.claude/`, `.mcp.json`, `.git/hooks/` and `.git/config` are bound read-only over
themselves, after the root's read-write bind. A bind needs something to mount on, so missing ones get an empty
placeholder directory on the host before the launch, created once and kept (git ignores empty directories,
and the `.mcp.json` loader only reads a regular file). Being mount points, none of them can be removed,
renamed or replaced from inside (EBUSY), and `.git` is bound over itself for the same reason
(`mv .git .git2 && mkdir .git` would otherwise get a fresh, writable config and hooks).

What remains writable, by design: the rest of `.git` (objects, refs, index), a `.git` that is a file
(worktrees, submodules: its gitdir may live elsewhere), nested repositories' `.git` below the root, and a
`.git` the command creates where there was none. Host-side git must therefore never run with the workspace's
own config or hooks (dexa.code.transport already fetches into a host-side staging repository).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable

from dexa.core.errors import SandboxError

# (path relative to the root, placeholder kind when missing: "dir" or None for "leave it missing")
_CONTROL = ((".claude", "dir"), (".mcp.json", "dir"))
_GIT_CONTROL = (("hooks", "dir"), ("config", None))


def _kind(path: str) -> int | None:
    try:
        return os.lstat(path).st_mode
    except FileNotFoundError:
        return None


def _protect(path: str, placeholder: str | None) -> list[str]:
    mode = _kind(path)
    if mode is not None and stat.S_ISLNK(mode):
        # bwrap would follow it on both sides: the host target would show up inside, and the link itself
        # stays replaceable. Refuse rather than guess what the repo meant.
        raise SandboxError(
            f"{path} is a symlink; Dexa keeps control files read-only by mounting over them and cannot do that "
            "through a symlink. Replace it with a real file or directory."
        )
    if mode is None:
        if placeholder is None:
            return []
        try:
            os.mkdir(path, 0o755)
        except FileExistsError:  # a concurrent launch made it first
            pass
        except OSError as exc:
            raise SandboxError(f"cannot create the read-only placeholder {path}: {exc.strerror}") from exc
    return ["--ro-bind", path, path]


def control_mounts(roots: Iterable[str]) -> list[str]:
    """bwrap arguments making every root's control files read-only; placed after the roots' own binds.

    Raises:
        SandboxError: a control path is a symlink (it cannot be protected).
    """
    args: list[str] = []
    for root in roots:
        for name, placeholder in _CONTROL:
            args += _protect(os.path.join(root, name), placeholder)
        git = os.path.join(root, ".git")
        mode = _kind(git)
        if mode is None or not stat.S_ISDIR(mode):
            continue
        args += ["--bind", git, git]
        for name, placeholder in _GIT_CONTROL:
            args += _protect(os.path.join(git, name), placeholder)
    return args
