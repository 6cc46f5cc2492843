"""Markdown documents with YAML frontmatter: CLAUDE.md rules, subagents, skills and commands share this shape.

    ---
    name: code-reviewer
    tools: Read, Grep
    ---
    body

Parsing never raises. A broken header becomes a `SettingsProblem` naming the file and the field, so the caller
can skip that one item and report it as a `config.error` event.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dexa.config.settings import SettingsProblem

_OPEN = re.compile(r"\A(?:\ufeff)?---[ \t]*\r?\n")
_CLOSE = re.compile(r"^---[ \t]*\r?$", re.MULTILINE)
# Claude Code (>= 2.1.218) accepts these spellings for boolean fields.
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


@dataclass(frozen=True, slots=True)
class Document:
    meta: dict[str, Any] = field(default_factory=dict)
    body: str = ""
    has_frontmatter: bool = False


def split_frontmatter(text: str, *, file: str) -> tuple[Document, SettingsProblem | None]:
    """Split `text` into (frontmatter mapping, body). A malformed header yields the whole text as body + a problem."""
    opened = _OPEN.match(text)
    if opened is None:
        return Document(body=text), None
    closed = _CLOSE.search(text, opened.end())
    if closed is None:
        return Document(body=text), SettingsProblem(file, "frontmatter", "frontmatter opened with --- but never closed")
    raw = text[opened.end() : closed.start()]
    body = text[closed.end() :].lstrip("\r\n")
    import yaml  # only a document with a header needs it (~30 ms of a headless start otherwise)

    try:
        meta = _load_yaml(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 2})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return Document(body=body, has_frontmatter=True), SettingsProblem(
            file, "frontmatter", f"invalid YAML{where}: {problem}"
        )
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        return Document(body=body, has_frontmatter=True), SettingsProblem(
            file, "frontmatter", f"frontmatter must be a mapping of fields, got {type(meta).__name__}"
        )
    return Document(meta={str(k): v for k, v in meta.items()}, body=body, has_frontmatter=True), None


_SIMPLE_LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_-]*):[ \t]+(.+?)[ \t]*$")


def _load_yaml(raw: str) -> object:
    """YAML, with Claude Code's leniency: retry with scalar values quoted (`argument-hint: [pr] [priority]`)."""
    if not raw.strip():
        return {}
    import yaml

    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        lenient = "\n".join(_quote_value(line) for line in raw.splitlines())
        try:
            return yaml.safe_load(lenient)
        except yaml.YAMLError:
            pass
        raise


def _quote_value(line: str) -> str:
    m = _SIMPLE_LINE.match(line)
    if m is None or m.group(2)[0] in "'\"|>":
        return line
    return f"{m.group(1)}: '" + m.group(2).replace("'", "''") + "'"


class FieldReader:
    """Typed access to frontmatter fields that records the first problem instead of raising."""

    def __init__(self, meta: Mapping[str, Any], *, file: str) -> None:
        self.meta = meta
        self.file = file
        self.problems: list[SettingsProblem] = []

    def _bad(self, key: str, message: str) -> None:
        self.problems.append(SettingsProblem(self.file, key, message))

    def text(self, key: str, *, required: bool = False, default: str = "") -> str:
        value = self.meta.get(key)
        if value is None:
            if required:
                self._bad(key, "is required")
            return default
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self._bad(key, f"must be a string, got {_kind(value)}")
            return default
        return str(value)

    def flag(self, key: str, *, default: bool = False) -> bool:
        value = self.meta.get(key)
        parsed = parse_bool(value)
        if value is not None and parsed is None:
            self._bad(key, f"must be true or false (yes/no/on/off/1/0), got {value!r}")
        return default if parsed is None else parsed

    def items(self, key: str) -> tuple[str, ...] | None:
        """A list field given as a YAML list or a comma/space separated string (`tools: Read, Grep`)."""
        value = self.meta.get(key)
        if value is None:
            return None
        parsed = parse_list(value)
        if parsed is None:
            self._bad(key, f"must be a list of strings or a comma-separated string, got {_kind(value)}")
        return parsed

    def integer(self, key: str) -> int | None:
        value = self.meta.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self._bad(key, f"must be a positive integer, got {value!r}")
            return None
        return value

    def choice(self, key: str, options: tuple[str, ...]) -> str | None:
        value = self.meta.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or value not in options:
            self._bad(key, f"must be one of {', '.join(options)}, got {value!r}")
            return None
        return value


def parse_bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        low = value.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
    return None


def parse_list(value: object) -> tuple[str, ...] | None:
    """Split a tool list. Commas and spaces separate items, except inside parentheses (`Bash(git add *)`)."""
    if isinstance(value, str):
        return tuple(split_items(value))
    if isinstance(value, list):
        out: list[str] = []
        for item in value:  # pyright: ignore[reportUnknownVariableType]
            if not isinstance(item, str):
                return None
            out.extend(split_items(item) if "(" not in item and "{" not in item else [item.strip()])
        return tuple(x for x in out if x)
    return None


def split_items(value: str) -> list[str]:
    out: list[str] = []
    depth, cur = 0, ""
    for ch in value:
        if ch in "({":
            depth += 1
        elif ch in ")}":
            depth = max(0, depth - 1)
        if ch in ", \t\n" and depth == 0:
            if cur.strip():
                out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def _kind(value: object) -> str:
    return {dict: "a mapping", list: "a list", bool: "a boolean"}.get(type(value), type(value).__name__)
