""".gitignore semantics for snapshots: nested files, negation, directory pruning, and a decision cache.

Git's rule is "the last matching pattern wins, deeper .gitignore files after shallower ones", and nothing under an
excluded directory can be re-included. The walker asks about a directory before descending into it, so pruning gives
the second rule for free. Decisions are cached per path and dropped whenever any .gitignore changes, which keeps
incremental scans of large trees to a dictionary lookup per file.
"""

from __future__ import annotations

import logging
import os
import threading

import pathspec

logger = logging.getLogger(__name__)

# Never snapshotted: git's own database, and the copies rewind keeps of externally edited files (a later rewind to an
# older checkpoint would otherwise delete the very backups it made).
ALWAYS_EXCLUDED_NAMES = frozenset({".git"})
BACKUP_DIR = ".dexa/backups"

GitignoreKey = tuple[int, int, int]


MAX_GITIGNORE_CHARS = 1 << 20


def _no_follow(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK)


class IgnoreRules:
    """The .gitignore rules of one workspace tree, refreshed while a scan walks it.

    A scan calls `load_dir` for each directory it enters (parents before children), then `ignored` for each entry.
    One instance may be shared by concurrent scans of the same root; `lock` serialises them.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._specs: dict[str, tuple[GitignoreKey, pathspec.GitIgnoreSpec]] = {}
        self._decisions: dict[str, bool] = {}

    def load_dir(self, dir_rel: str, gitignore_path: str | None, key: GitignoreKey | None) -> None:
        """Record the .gitignore of `dir_rel` ('' for the root); `key` is its (mtime_ns, size, inode) or None."""
        current = self._specs.get(dir_rel)
        if key is None:
            if current is not None:
                del self._specs[dir_rel]
                self._decisions.clear()
            return
        if current is not None and current[0] == key:
            return
        spec = self._compile(gitignore_path)
        self._specs[dir_rel] = (key, spec)
        self._decisions.clear()

    def load_dir_text(self, dir_rel: str, text: str, key: GitignoreKey) -> None:
        """load_dir for a .gitignore whose text was read elsewhere (a remote workspace's listing)."""
        current = self._specs.get(dir_rel)
        if current is not None and current[0] == key:
            return
        self._specs[dir_rel] = (key, self._compile_lines(text[:MAX_GITIGNORE_CHARS].splitlines(), dir_rel))
        self._decisions.clear()

    @staticmethod
    def _compile_lines(lines: list[str], where: str) -> pathspec.GitIgnoreSpec:
        try:
            return pathspec.GitIgnoreSpec.from_lines(lines)
        except (ValueError, TypeError) as exc:
            logger.warning("invalid pattern in %s/.gitignore, ignoring the file: %s", where, exc)
            return pathspec.GitIgnoreSpec.from_lines([])

    @staticmethod
    def _compile(path: str | None) -> pathspec.GitIgnoreSpec:
        lines: list[str] = []
        if path is not None:
            try:
                # No-follow and non-blocking: a .gitignore swapped for a link or a FIFO is not read through.
                with open(path, encoding="utf-8", errors="replace", opener=_no_follow) as fh:
                    lines = fh.read(MAX_GITIGNORE_CHARS).splitlines()
            except OSError as exc:
                logger.warning("cannot read %s, treating it as empty: %s", path, exc)
        try:
            return pathspec.GitIgnoreSpec.from_lines(lines)
        except (ValueError, TypeError) as exc:
            # A malformed pattern must not disable checkpoints; git itself skips such lines.
            logger.warning("invalid pattern in %s, ignoring the file: %s", path, exc)
            return pathspec.GitIgnoreSpec.from_lines([])

    def ignored(self, rel: str, *, is_dir: bool) -> bool:
        """Is the workspace-relative path `rel` (forward slashes) excluded from snapshots?"""
        key = rel + "/" if is_dir else rel
        cached = self._decisions.get(key)
        if cached is not None:
            return cached
        decision = self._decide(rel, is_dir)
        self._decisions[key] = decision
        return decision

    def _decide(self, rel: str, is_dir: bool) -> bool:
        parts = rel.split("/")
        if parts[-1] in ALWAYS_EXCLUDED_NAMES or (is_dir and rel == BACKUP_DIR):
            return True
        if not self._specs:
            return False
        result = False
        suffix = "/" if is_dir else ""
        for i in range(len(parts)):
            entry = self._specs.get("/".join(parts[:i]))
            if entry is None:
                continue
            include = entry[1].check_file("/".join(parts[i:]) + suffix).include
            if include is not None:
                result = include
        return result
