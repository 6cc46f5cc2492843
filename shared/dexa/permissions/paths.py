"""Read/Edit path rules (gitignore patterns via pathspec), working directories and protected paths.

Anchors (reference §2.4): `//p` filesystem root, `~/p` home, `/p` the settings source's directory,
`p` or `./p` the session's start directory. Bare names match at any depth; a single-segment directory
pattern such as `src/**` matches only `<cwd>/src` in an allow rule but any `src` in a deny/ask rule.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

# Writes here are never auto-approved, except in bypassPermissions (reference §2.7).
PROTECTED_DIRS: frozenset[str] = frozenset(
    {".git", ".vscode", ".idea", ".husky", ".cargo", ".devcontainer", ".yarn", ".mvn", ".claude"}
)
PROTECTED_FILES: frozenset[str] = frozenset(
    {
        ".gitconfig",
        ".gitmodules",
        ".bashrc",
        ".bash_profile",
        ".bash_login",
        ".bash_aliases",
        ".bash_logout",
        ".zshrc",
        ".zprofile",
        ".zshenv",
        ".zlogin",
        ".zlogout",
        ".profile",
        ".envrc",
        ".npmrc",
        ".yarnrc",
        ".yarnrc.yml",
        ".pnp.cjs",
        ".pnp.loader.mjs",
        ".pnpmfile.cjs",
        "bunfig.toml",
        ".bunfig.toml",
        ".bazelrc",
        ".bazelversion",
        ".bazeliskrc",
        ".pre-commit-config.yaml",
        "lefthook.yml",
        "lefthook.yaml",
        ".lefthook.yml",
        ".lefthook.yaml",
        "gradle-wrapper.properties",
        "maven-wrapper.properties",
        ".devcontainer.json",
        ".ripgreprc",
        "pyrightconfig.json",
        ".mcp.json",
        ".claude.json",
    }
)
_SINGLE_SEGMENT_DIR = re.compile(r"^[^/*?\[\]]+/(\*\*?)?$")
_GITIGNORE_SPECIAL = re.compile(r"([\[\]*?!#\\])")


def expand_home(path: str, home: str) -> str:
    if path == "~" or path.startswith("~/"):
        return home + path[1:]
    return path


def normalize(path: str, *, cwd: str, home: str) -> str:
    """Absolute, `~` expanded with the session's home, `..` folded; symlinks are NOT resolved here."""
    return os.path.normpath(os.path.join(cwd, expand_home(path, home)))


def link_candidates(path: str) -> tuple[str, ...]:
    """The path and, when it differs, what it resolves to (allow needs both, deny either: reference §2.4)."""
    real = resolve_links(path)
    return (path,) if real == path else (path, real)


_PROC_FD = "/proc/self/fd"
_HAS_PROC = os.path.isdir(_PROC_FD) and hasattr(os, "O_PATH")


def resolve_links(path: str) -> str:
    """`os.path.realpath`, but let the kernel walk the path when it can (3 syscalls instead of one per component).

    Never cached: a symlink the model creates between two calls must be seen by the second one.
    """
    if _HAS_PROC:
        head, tail = path, ""
        for _ in range(2):  # the path itself, else its directory (a file about to be created)
            try:
                fd = os.open(head, os.O_PATH | os.O_CLOEXEC)
            except ValueError:
                break  # a NUL byte: not a path; the tool itself refuses it with a clear error
            except OSError:
                if tail or os.path.islink(head):
                    break  # a dangling link or a missing directory: let realpath work it out
                head, tail = os.path.split(head)
                continue
            try:
                resolved = os.readlink(f"{_PROC_FD}/{fd}")
            except OSError:
                break
            finally:
                os.close(fd)
            return os.path.join(resolved, tail) if tail else resolved
    try:
        return os.path.realpath(path)
    except (OSError, ValueError):
        return path


def inside(path: str, directory: str) -> bool:
    if directory == "/":
        return path.startswith("/")
    return path == directory or path.startswith(directory + "/")


def inside_any(path: str, directories: Iterable[str]) -> bool:
    return any(inside(path, d) for d in directories)


def is_protected(path: str) -> bool:
    parts = [p for p in path.split("/") if p]
    for i, part in enumerate(parts):
        if part == ".claude" and i + 1 < len(parts) and parts[i + 1] == "worktrees":
            continue
        if part in PROTECTED_DIRS and i < len(parts) - 1:
            return True
        if part == ".config" and i + 1 < len(parts) and parts[i + 1] == "git" and i + 1 < len(parts) - 1:
            return True
    return bool(parts) and (parts[-1] in PROTECTED_FILES or parts[-1] in PROTECTED_DIRS)


def escape_pattern(path: str) -> str:
    """Escape gitignore metacharacters so a generated rule matches only this literal path."""
    return _GITIGNORE_SPECIAL.sub(r"\\\1", path)


def absolute_rule_path(path: str) -> str:
    """The `//abs` spelling of an absolute path for a generated rule."""
    return "/" + escape_pattern(path)


class PathPattern:
    """One compiled Read/Edit rule specifier."""

    __slots__ = ("_spec", "base", "line", "pattern")

    def __init__(self, pattern: str, *, behavior: str, anchor: str, cwd: str, home: str) -> None:
        self.pattern = pattern
        text = pattern.strip()
        if text.startswith("//"):
            base, line = "/", "/" + text[2:].lstrip("/")
        elif text == "~" or text.startswith("~/"):
            base, line = home, "/" + text[2:] if len(text) > 2 else "**"
        elif text.startswith("/"):
            base, line = anchor, text
        else:
            base = cwd
            line = text[2:] if text.startswith("./") else text
            if behavior != "allow" and _SINGLE_SEGMENT_DIR.match(line):
                line = "**/" + line
        if line in ("", "/"):
            line = "**"
        self.base = os.path.normpath(base)
        self.line = line
        import pathspec  # here: a session without Read/Edit path rules never needs it (~30 ms of a cold start)

        self._spec = pathspec.GitIgnoreSpec.from_lines([line])

    def matches(self, path: str, *, is_dir: bool = False) -> bool:
        if not inside(path, self.base) or path == self.base:
            return False
        rel = path[len(self.base) :].lstrip("/") if self.base != "/" else path.lstrip("/")
        if self._spec.match_file(rel):
            return True
        # A directory-scoped call (Grep/Glob root) also hits `dir/` and `dir/**` patterns.
        return is_dir and (self._spec.match_file(rel + "/") or self._spec.match_file(rel + "/_"))
