"""Path globs for `paths:` frontmatter (rules and skills), matched against paths relative to a project root.

`**` spans directories, `*` and `?` stay inside one segment, `[...]` is a character class, `{a,b}` expands
(budget of 1,000 patterns per rule, as in Claude Code). `*.md` therefore matches only at the root. A pattern with an
unclosed `[` matches nothing instead of failing the load.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

MAX_EXPANSIONS = 1000
_NEVER = re.compile(r"(?!)")


def expand_braces(pattern: str, budget: int = MAX_EXPANSIONS) -> list[str]:
    """`src/**/*.{ts,tsx}` -> [`src/**/*.ts`, `src/**/*.tsx`]; stops at `budget` results."""
    out: list[str] = []
    stack = [pattern]
    while stack and len(out) < budget:
        current = stack.pop()
        span = _first_brace(current)
        if span is None:
            out.append(current)
            continue
        start, end, options = span
        for option in reversed(options):
            stack.append(current[:start] + option + current[end + 1 :])
    return out


def _first_brace(text: str) -> tuple[int, int, list[str]] | None:
    depth, start = 0, -1
    for i, ch in enumerate(text):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                inner = text[start + 1 : i]
                options = _split_top(inner)
                if len(options) > 1:
                    return start, i, options
    return None


def _split_top(inner: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def glob_regex(pattern: str) -> re.Pattern[str]:
    """Compile one brace-free glob. Unparsable patterns compile to a regex that never matches."""
    pat = pattern.strip().removeprefix("./").lstrip("/")
    out: list[str] = []
    i = 0
    while i < len(pat):
        ch = pat[i]
        if ch == "*":
            if pat.startswith("**", i):
                at_segment_start = i == 0 or pat[i - 1] == "/"
                j = i + 2
                if at_segment_start and (j == len(pat) or pat[j] == "/"):
                    out.append("(?:.*/)?" if j < len(pat) else ".*")
                    i = j + 1 if j < len(pat) else j
                    continue
                out.append("[^/]*")
                i = j
                continue
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            close = pat.find("]", i + 2 if pat.startswith(("[!", "[^"), i) else i + 1)
            if close == -1:
                return _NEVER
            body = pat[i + 1 : close]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = close
        else:
            out.append(re.escape(ch))
        i += 1
    try:
        return re.compile("".join(out) + r"\Z")
    except re.error:
        return _NEVER


@dataclass(frozen=True, slots=True)
class GlobSet:
    patterns: tuple[str, ...]
    regexes: tuple[re.Pattern[str], ...]

    @staticmethod
    def compile(patterns: Iterable[str]) -> GlobSet:
        raw = tuple(p for p in patterns if p.strip())
        regexes: list[re.Pattern[str]] = []
        for p in raw:
            regexes.extend(glob_regex(x) for x in expand_braces(p))
        return GlobSet(raw, tuple(regexes))

    def matches(self, relative_path: str) -> bool:
        rel = relative_path.replace("\\", "/").removeprefix("./")
        return any(r.match(rel) for r in self.regexes)
