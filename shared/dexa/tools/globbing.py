"""Glob patterns, .gitignore rules and ripgrep file types, as pure functions.

The one glob dialect of Dexa (wcmatch): the Glob and Grep tools and `paths:` frontmatter (rules, skills) all match
with `compile_glob`. `**` spans directories when it is a whole segment, `*` and `?` stay inside one, `[...]` and
`[!...]` are classes, `{a,b}` expands (at most 1,000 patterns, Claude Code's budget), and dotfiles match like any
other name, as they do in Claude Code's Glob.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

from dexa.core.errors import ConfigError

if TYPE_CHECKING:  # imported when a searched tree has a .gitignore: ~30 ms of every cold start otherwise
    import pathspec

MAX_EXPANSIONS = 1000

# ripgrep's --type names for the languages a model asks for most; extensions include the dot.
FILE_TYPES: dict[str, tuple[str, ...]] = {
    "py": (".py", ".pyi"),
    "python": (".py", ".pyi"),
    "js": (".js", ".jsx", ".mjs", ".cjs", ".vue"),
    "ts": (".ts", ".tsx", ".mts", ".cts"),
    "typescript": (".ts", ".tsx", ".mts", ".cts"),
    "go": (".go",),
    "rust": (".rs",),
    "java": (".java",),
    "kotlin": (".kt", ".kts"),
    "c": (".c", ".h"),
    "cpp": (".cpp", ".cc", ".cxx", ".hpp", ".hh", ".hxx", ".h"),
    "cs": (".cs",),
    "csharp": (".cs",),
    "swift": (".swift",),
    "rb": (".rb",),
    "ruby": (".rb",),
    "php": (".php",),
    "sh": (".sh", ".bash", ".zsh"),
    "md": (".md", ".markdown", ".mdx"),
    "markdown": (".md", ".markdown", ".mdx"),
    "json": (".json", ".jsonl"),
    "yaml": (".yaml", ".yml"),
    "toml": (".toml",),
    "html": (".html", ".htm"),
    "css": (".css", ".scss", ".sass", ".less"),
    "sql": (".sql",),
    "xml": (".xml",),
    "txt": (".txt",),
}


class GlobMatcher(Protocol):
    def match(self, filename: str) -> bool: ...


def compile_glob(patterns: str | Sequence[str], *, ignore_case: bool = False) -> GlobMatcher:
    """A matcher of slash-separated relative paths against one glob or any of several.

    Raises:
        ConfigError: braces expand to more than MAX_EXPANSIONS patterns.
    """
    # ~45 ms to import: paid by the first glob, not by every start
    from wcmatch import glob as wcglob
    from wcmatch._wcparse import PatternLimitException

    flags = wcglob.GLOBSTAR | wcglob.BRACE | wcglob.DOTGLOB | wcglob.FORCEUNIX
    flags |= wcglob.IGNORECASE if ignore_case else 0
    listed = [patterns] if isinstance(patterns, str) else list(patterns)
    try:
        return wcglob.compile(listed, flags=flags, limit=MAX_EXPANSIONS)
    except PatternLimitException as exc:
        raise ConfigError(f"glob {listed!r}: braces expand to over {MAX_EXPANSIONS} patterns") from exc


def has_magic(part: str) -> bool:
    return any(c in part for c in "*?[{")


def split_absolute(pattern: str) -> tuple[str, str]:
    """`/ws/src/**/*.py` -> (`/ws/src`, `**/*.py`): the literal directory prefix and the glob rest."""
    parts = pattern.split("/")
    literal: list[str] = []
    for part in parts:
        if has_magic(part):
            break
        literal.append(part)
    base = "/".join(literal) or "/"
    rest = "/".join(parts[len(literal) :])
    return os.path.normpath(base), rest


class IgnoreRules:
    """The .gitignore files found inside a searched tree, applied relative to their own directories."""

    def __init__(self, specs: dict[str, pathspec.GitIgnoreSpec]) -> None:
        self._specs = specs

    @staticmethod
    def parse(files: Iterable[tuple[str, str]]) -> IgnoreRules:
        """`files` = (absolute path of a .gitignore, its text)."""
        import pathspec

        specs = {os.path.dirname(path): pathspec.GitIgnoreSpec.from_lines(text.splitlines()) for path, text in files}
        return IgnoreRules(specs)

    def ignored(self, path: str) -> bool:
        directory = os.path.dirname(path)
        while True:
            spec = self._specs.get(directory)
            if spec is not None and spec.match_file(os.path.relpath(path, directory)):
                return True
            parent = os.path.dirname(directory)
            if parent == directory:
                return False
            directory = parent


def in_git_dir(rel: str) -> bool:
    return rel == ".git" or rel.startswith(".git/") or "/.git/" in f"/{rel}"
