"""Regular expressions compiled once per machine instead of once per process, as dexa.core.codecache does for
dataclasses.

A headless `dexa run -p` compiles ~160 patterns at import before its first model request (http.cookiejar, platform,
fractions, logging, httpx, h11, Dexa's own...): 25-35 ms of CPU (measured) parsing the same text into the same
regex-engine program in every run. `re` compiles a pattern in two steps: Python code parses the text and emits the
program (a list of ints, the slow part), then `_sre.compile` builds the pattern object from it. `install()` puts a
`compile` of its own in `re._compiler` (where `re` calls it on a miss of its per-process cache): the stdlib's own
steps, but the program and group tables of each pattern are kept in a table, loaded from disk, so a known pattern
goes straight to `_sre.compile`. A pattern from a table is the same as one compiled fresh (`Pattern.__eq__` compares
the program too: the unit tests check it).

Left to the stdlib, every time: a pattern that could make the parser warn (a possible nested set or set operation,
a non-ASCII group name), so the warning still shows, from the same stack level; a parsed pattern (`re.Scanner`);
DEBUG; anything longer than MAX_PATTERN. Only interpreters whose `re` this was written against install it (3.11,
3.12: `requires-python`). The table is keyed by the interpreter version and the regex engine's magic number, and is
trusted like bytecode (codecache.trusted). Saved at exit when the process compiled something new: the patterns this
process used, so patterns built from one run's data (a permission rule, a glob) do not pile up.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import marshal
import os
import re
import sys
from pathlib import Path
from typing import Any

from dexa.core.codecache import trusted

FILE_NAME = f"regex-code-{sys.implementation.cache_tag}.marshal"
SUPPORTED = ((3, 11), (3, 12))
MAX_ENTRIES = 4000
MAX_PATTERN = 2000
# What the parser may warn about (re/_parser.py): "[[", a doubled set operator, a non-ASCII group name.
_MAY_WARN = ("[[", "--", "&&", "~~", "||")

# The stdlib's regex compiler and engine (typeshed describes neither).
_compiler: Any = importlib.import_module("re._compiler")
_parser: Any = importlib.import_module("re._parser")
_sre: Any = importlib.import_module("_sre")
KEY: tuple[int, int] = (sys.hexversion, _sre.MAGIC)

Entry = tuple[int, list[int], int, dict[str, int], tuple[str | None, ...]]


def cacheable(pattern: object, flags: int) -> bool:
    if flags & re.DEBUG:
        return False
    if isinstance(pattern, str):
        return len(pattern) <= MAX_PATTERN and pattern.isascii() and not any(s in pattern for s in _MAY_WARN)
    if isinstance(pattern, bytes):
        return len(pattern) <= MAX_PATTERN and pattern.isascii() and not any(s.encode() in pattern for s in _MAY_WARN)
    return False


class Table:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[tuple[str | bytes, int], Entry] = {}
        self.used: set[tuple[str | bytes, int]] = set()
        self.added = 0
        with contextlib.suppress(OSError, ValueError, EOFError, TypeError):
            with open(path, "rb") as fh:
                if not trusted(os.fstat(fh.fileno())):
                    return
                key, entries = marshal.loads(fh.read())
            if key == KEY and isinstance(entries, dict):
                self.entries = entries  # pyright: ignore[reportUnknownMemberType]

    def compile(self, p: Any, flags: int = 0) -> Any:
        """`re._compiler.compile(p, flags)`: the stdlib's steps, inline (the parser's warnings keep their stack
        level), with each cacheable pattern's program kept."""
        entry = self.entries.get((p, flags)) if type(p) is str or type(p) is bytes else None
        if entry is not None:  # only cacheable patterns are kept: no need to ask
            self.used.add((p, int(flags)))
            return _sre.compile(p, *entry)
        key = (p, int(flags)) if cacheable(p, flags) else None
        parsed: Any
        if _compiler.isstring(p):
            pattern = p
            parsed = _parser.parse(p, flags)
        else:
            pattern, parsed = None, p
        code = _compiler._code(parsed, flags)
        if flags & re.DEBUG:
            print()
            _compiler.dis(code)
        groupindex: dict[str, int] = parsed.state.groupdict
        indexgroup: list[str | None] = [None] * parsed.state.groups
        for name, index in groupindex.items():
            indexgroup[index] = name
        entry = (flags | parsed.state.flags, code, parsed.state.groups - 1, groupindex, tuple(indexgroup))
        if key is not None and len(self.entries) < MAX_ENTRIES:
            # Plain ints: the program's opcodes are int subclasses, which marshal cannot write.
            kept = (int(entry[0]), [int(c) for c in code], entry[2], dict(groupindex), entry[4])
            self.entries[key] = kept
            self.added += 1
        if key is not None:
            self.used.add(key)
        return _sre.compile(pattern, *entry)

    def save(self) -> None:
        if not self.added:
            return
        keep = {key: self.entries[key] for key in self.used if key in self.entries}
        with contextlib.suppress(OSError, ValueError):  # a read-only home: compile again next time
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
            data = marshal.dumps((KEY, keep))
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                tmp.replace(self.path)  # whole or not at all, whichever process writes last
            finally:
                tmp.unlink(missing_ok=True)


def install(path: Path, *, save: bool = True) -> Table | None:
    """Give `re` the table at `path`, saved at exit unless `save` is False (a Lambda layer's table is only read)
    (idempotent: the first install wins; None then, or on an interpreter this was not written for)."""
    if sys.version_info[:2] not in SUPPORTED or isinstance(getattr(_compiler.compile, "__self__", None), Table):
        return None
    table = Table(path)
    _compiler.compile = table.compile
    if save:
        atexit.register(table.save)
    return table


__all__ = ["FILE_NAME", "Table", "cacheable", "install"]
