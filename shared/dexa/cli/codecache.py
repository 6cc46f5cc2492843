"""The code `dataclasses` generates for each class, compiled once per machine instead of once per process.

A `@dataclass` writes the source of its `__init__`, `__repr__`, `__eq__`, `__setattr__`... and compiles it with
`exec` when the class is created. A headless `dexa run -p` creates about 220 dataclasses (~600 functions) on its way
to the first model request: 70-110 ms of CPU compiling source text that is the same in every run. `install()` gives
the `dataclasses` module an `exec` of its own (a module global shadows the builtin) that looks the source up in a
table of code objects loaded from `$DEXA_HOME/cache` and compiles only what is missing; new entries are written back
when the process exits. The code objects are exactly what `exec` would compile from the same text (same file name,
mode and flags: `dataclasses` uses no `__future__` features), and run with the same globals and namespace, so the
classes are the same. The table is keyed by the interpreter's bytecode magic number; a missing, unreadable or stale
file only means compiling, as without it.

Only the `dexa` command's own process installs it (cli/main.py, `process_exit.is_cli_process`); importing Dexa
elsewhere (tests, `dexa.cli.main.main()` called in-process) changes nothing. The file is trusted like bytecode: it is
used only when this user owns it and no one else may write it.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import importlib.util
import marshal
import os
import sys
from pathlib import Path
from types import CodeType
from typing import Any

_FILE = f"dataclass-code-{sys.implementation.cache_tag}.marshal"
# Entries beyond this are compiled and not kept: the table stays small whatever a process does.
MAX_ENTRIES = 4000


class _Table:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.code: dict[str, CodeType] = {}
        self.added = 0
        with contextlib.suppress(OSError, ValueError, EOFError, TypeError):
            with open(path, "rb") as fh:
                # Code runs from this file: only one this user wrote, writable by no one else, as for bytecode.
                info = os.fstat(fh.fileno())
                if info.st_uid != os.geteuid() or info.st_mode & 0o022:
                    return
                magic, code = marshal.loads(fh.read())
            if magic == importlib.util.MAGIC_NUMBER and isinstance(code, dict):
                self.code = code  # pyright: ignore[reportUnknownMemberType]

    def exec(self, source: Any, globals: Any = None, locals: Any = None, /) -> None:
        if isinstance(source, str):
            code = self.code.get(source)
            if code is None:
                code = compile(source, "<string>", "exec", dont_inherit=True)
                if len(self.code) < MAX_ENTRIES:
                    self.code[source] = code
                    self.added += 1
            source = code
        if globals is None:  # a bare `exec(text)` in dataclasses would run in that module's globals
            globals = vars(dataclasses)
        exec(source, globals, locals)  # what dataclasses itself does with the text

    def save(self) -> None:
        if not self.added:
            return
        with contextlib.suppress(OSError, ValueError):  # a read-only home: compile again next time
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(marshal.dumps((importlib.util.MAGIC_NUMBER, self.code)))
            tmp.replace(self.path)  # whole or not at all, whichever process writes last


def cache_dir() -> Path:
    base = os.environ.get("DEXA_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "dexa")
    return Path(base).expanduser() / "cache"


def install() -> None:
    """Give `dataclasses` the cached `exec` (idempotent; harmless on a version that no longer compiles text)."""
    module: Any = dataclasses
    if "exec" in vars(module):
        return
    table = _Table(cache_dir() / _FILE)
    module.exec = table.exec
    atexit.register(table.save)


__all__ = ["install"]
