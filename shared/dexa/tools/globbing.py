"""Glob patterns (`**`, `*`, `?`, `[...]`, `{a,b}`), .gitignore rules and ripgrep file types, as pure functions."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

import pathspec

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


def expand_braces(pattern: str) -> list[str]:
    """`src/*.{ts,tsx}` -> [`src/*.ts`, `src/*.tsx`] (nested braces included)."""
    depth = 0
    start = -1
    for i, ch in enumerate(pattern):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                inner = pattern[start + 1 : i]
                parts, level, last = [], 0, 0
                for j, c in enumerate(inner):
                    level += c == "{"
                    level -= c == "}"
                    if c == "," and level == 0:
                        parts.append(inner[last:j])
                        last = j + 1
                parts.append(inner[last:])
                if len(parts) == 1:
                    continue
                head, tail = pattern[:start], pattern[i + 1 :]
                return [out for part in parts for out in expand_braces(head + part + tail)]
    return [pattern]


def _translate(pattern: str) -> str:
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            if pattern.startswith("**", i):
                i += 2
                if i < n and pattern[i] == "/":
                    out.append("(?:.*/)?")
                    i += 1
                else:
                    out.append(".*")
                continue
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("!", "^") else i + 1)
            if end == -1:
                out.append(re.escape(ch))
            else:
                body = pattern[i + 1 : end]
                if body[:1] in ("!", "^"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


def glob_regex(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    """A regex matching slash-separated relative paths against a glob pattern."""
    alternatives = [_translate(p) for p in expand_braces(pattern)]
    return re.compile("^(?:" + "|".join(alternatives) + ")$", re.IGNORECASE if ignore_case else 0)


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
