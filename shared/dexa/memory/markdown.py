"""The Markdown facts memory loading needs: where `@path` imports are, and which HTML comments to strip.

Imports and comments are only recognised outside fenced code blocks and inline code spans (reference §4.2-4.3),
so `` `@README` `` stays literal.
"""

from __future__ import annotations

import re

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
# Claude Code's import token: `@` at line start or after whitespace, up to the next unescaped whitespace.
_IMPORT = re.compile(r"(?:^|(?<=\s))@((?:[^\s\\]|\\ )+)")
_LEADING_JUNK = re.compile(r"^[#%^&*()]+")
_TRAILING_PUNCT = ".,;:!?)]}\"'"


def _prose_lines(text: str) -> list[tuple[bool, str]]:
    """(in_code, line) for every line; fence lines themselves count as code."""
    out: list[tuple[bool, str]] = []
    fence: str | None = None
    for line in text.split("\n"):
        m = _FENCE.match(line)
        if fence is None and m:
            fence = m.group(1)
            out.append((True, line))
        elif fence is not None:
            out.append((True, line))
            stripped = line.strip()
            if stripped and stripped[0] == fence[0] and set(stripped) == {fence[0]} and len(stripped) >= len(fence):
                fence = None
        else:
            out.append((False, line))
    return out


def find_imports(text: str) -> list[str]:
    """Raw `@path` targets in document order, without duplicates, ignoring code spans and fences."""
    found: list[str] = []
    for in_code, line in _prose_lines(text):
        if in_code:
            continue
        prose = _CODE_SPAN.sub(lambda m: " " * len(m.group(0)), line)
        for m in _IMPORT.finditer(prose):
            target = m.group(1).replace("\\ ", " ").split("#", 1)[0]
            if is_import_path(target) and target not in found:
                found.append(target)
    return found


def is_import_path(path: str) -> bool:
    if path.startswith(("./", "~/")):
        return True
    if path.startswith("/"):
        return path != "/"
    if not path or path.startswith("@") or _LEADING_JUNK.match(path):
        return False
    return path[0].isalnum() or path[0] in "._-"


def trim_trailing_punctuation(path: str) -> str:
    """`see @docs/style.md.` -> `docs/style.md` (tried only when the literal path does not exist)."""
    return path.rstrip(_TRAILING_PUNCT)


def strip_html_comments(text: str) -> str:
    """Remove block-level `<!-- ... -->` comments outside code blocks (kept inside them, as Claude Code does)."""
    out: list[str] = []
    in_comment = False
    for in_code, line in _prose_lines(text):
        if in_code and not in_comment:
            out.append(line)
            continue
        if in_comment:
            end = line.find("-->")
            if end == -1:
                continue
            in_comment = False
            rest = line[end + 3 :]
            if rest.strip():
                out.append(rest)
            continue
        if line.lstrip().startswith("<!--"):
            start = line.find("<!--")
            end = line.find("-->", start + 4)
            if end == -1:
                in_comment = True
                continue
            rest = line[end + 3 :]
            if rest.strip():
                out.append(rest)
            continue
        out.append(line)
    return "\n".join(out)
