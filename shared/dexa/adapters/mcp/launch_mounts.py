"""What a trusted stdio server needs to start inside the sandbox: its program's install tree, its script's
package, the npx/uvx caches, and a PATH that finds them.

Without these a server launched as `npx -y pkg`, `node …/dist/index.js`, a pyenv `python3` or `mcp-server-git`
from a venv fails at exec or import time, because the sandbox binds only system trees and the workspace. Every
extra path is bound read-only, and never a home directory or anything above it: a tree that would expose the
user's home (ssh keys, Dexa's own vault) is narrowed to the program's own directory.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# Version managers keep a whole toolchain under one root; shims exec into it, so the root is the install tree.
_MANAGER_ROOTS = (".pyenv", ".nvm", ".volta", ".asdf", ".local/share/uv", ".local/share/mise", ".rbenv", ".bun")
# Caches `npx` and `uvx` run packages from; read-only offline, writable when the session may download.
_CACHES = (".npm", ".cache/uv", ".local/share/uv/tools", ".cache/pip")
_SYSTEM_PREFIXES = ("/usr/", "/bin/", "/sbin/", "/lib", "/etc/")


@dataclass(frozen=True, slots=True, kw_only=True)
class LaunchMounts:
    read_only: list[str] = field(default_factory=list)
    writable: list[str] = field(default_factory=list)
    path_dirs: list[str] = field(default_factory=list)


def _forbidden(path: Path, home: Path, protected: Sequence[Path]) -> bool:
    """Binding this would expose the home directory (or the root) wholesale."""
    if path == Path("/") or len(path.parts) <= 2:
        return True
    if path == home or home.is_relative_to(path):
        return True
    return any(p == path or p.is_relative_to(path) for p in protected)


def _install_tree(program: Path, home: Path) -> Path:
    """`…/versions/3.12/bin/python3` -> `…/versions/3.12`; a shim under ~/.pyenv -> ~/.pyenv; else bin's parent."""
    for root in _MANAGER_ROOTS:
        base = home / root
        if program.is_relative_to(base):
            return base
    if "node_modules" in program.parts:  # an npm bin (node_modules/.bin/x -> ../pkg/dist/index.js)
        return _script_root(program)
    if program.parent.name in ("bin", "sbin", "Scripts"):
        return program.parent.parent
    return program.parent


def _script_root(script: Path) -> Path:
    """A node script's package tree: everything up to its outermost node_modules (where `require` looks)."""
    parts = script.parts
    if "node_modules" in parts:
        return Path(*parts[: parts.index("node_modules") + 1])
    return script.parent


def _interpreter(program: Path) -> str | None:
    """The interpreter of a `#!` script (a venv entry point, npx's `#!/usr/bin/env node`)."""
    try:
        with program.open("rb") as fh:
            head = fh.read(256)
    except OSError:
        return None
    if not head.startswith(b"#!"):
        return None
    words = head[2:].split(b"\n", 1)[0].decode(errors="replace").split()
    if not words:
        return None
    if os.path.basename(words[0]) == "env" and len(words) > 1:
        return words[-1]
    return words[0]


def launch_mounts(
    command: str,
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: str,
    roots: Sequence[str],
    home: str | None = None,
    protected: Sequence[str] = (),
    network: bool = False,
) -> LaunchMounts:
    """The read-only trees, writable caches and PATH entries one stdio server launch needs."""
    host_home = Path(home or os.path.expanduser("~")).resolve()
    guarded = [Path(p).resolve() for p in protected]
    inside = [Path(r).resolve() for r in roots]
    search = env.get("PATH") or os.environ.get("PATH", "")
    read_only: list[Path] = []
    path_dirs: list[Path] = []

    def add(tree: Path, fallback: Path) -> None:
        for candidate in (tree, fallback):
            if any(candidate.is_relative_to(r) for r in inside):
                return
            if str(candidate).startswith(_SYSTEM_PREFIXES) and not str(candidate).startswith("/usr/local/"):
                return  # already bound as a system tree
            if not _forbidden(candidate, host_home, guarded):
                read_only.append(candidate)
                return

    def add_program(name: str) -> None:
        found = name if "/" in name else shutil.which(name, path=search)
        if not found:
            return
        link = Path(os.path.abspath(found if os.path.isabs(found) else os.path.join(cwd, found)))
        for program in dict.fromkeys((link, link.resolve())):
            add(_install_tree(program, host_home), program.parent)
            path_dirs.append(program.parent)
        interpreter = _interpreter(link.resolve())
        if interpreter and interpreter != name:
            add_program(interpreter)

    add_program(command)
    for arg in args:
        if arg.startswith("-"):
            continue
        candidate = Path(arg if os.path.isabs(arg) else os.path.join(cwd, arg))
        if candidate.is_file():
            script = candidate.resolve()
            add(_script_root(script), script.parent)
            if os.access(candidate, os.X_OK) and _interpreter(script):
                # A program run by a wrapper (`sh -c '…' /venv/bin/server`): its install tree and interpreter too.
                add_program(str(candidate))
    caches: list[Path] = [host_home / c for c in _CACHES if (host_home / c).is_dir()]
    caches = [c for c in caches if not any(c.is_relative_to(r) for r in inside)]
    ro = [str(p) for p in dict.fromkeys(read_only)]
    cache_paths = [str(c) for c in caches]
    return LaunchMounts(
        read_only=ro + ([] if network else cache_paths),
        writable=cache_paths if network else [],
        path_dirs=[str(p) for p in dict.fromkeys(path_dirs)],
    )
