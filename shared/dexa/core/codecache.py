"""The code `dataclasses` generates for each class, compiled once instead of once per process.

A `@dataclass` writes the source of its `__init__`, `__repr__`, `__eq__`, `__setattr__`... and compiles it with
`exec` when the class is created: the same text in every process, 70-140 ms of CPU in a `dexa run -p` or a cold
Lambda. `install()` gives the `dataclasses` module an `exec` of its own (a module global shadows the builtin) that
looks the source up in a table of code objects and compiles only what is missing. The code objects are exactly what
`exec` would compile from the same text (same file name, mode and flags: `dataclasses` uses no `__future__`
features) and run with the same globals and namespace, so the classes are the same. A table is keyed by the
interpreter's bytecode magic number; a missing, unreadable, stale or untrusted file only means compiling.

Two homes: the CLI's, in `$DEXA_HOME/cache`, written back at exit (dexa.cli.codecache); the Lambda layer's, beside
this package (LAYER_TABLE), written once by layers/dexa/build.sh (`python -m dexa.core.codecache OUT MODULE...`)
and only read (dexa.cloud installs it). A table is code: it is trusted like bytecode, only when owned by this user or
root and writable by neither group nor others.

Loading costs what the process uses, not what the table holds: the layer's table has every class any function may
create (~1,900 functions, 2 MB) and a cold API creates about a quarter of them. So an entry may be stored as its
code object's own marshal bytes, unmarshalled on its first lookup: reading the table is then mostly a copy (~0.7 ms
for the layer's, against ~6 ms for all of it as code objects). An entry alone costs about twice its share of a whole
table (the names its code shares with others are built again), so what the process that saved the table used
stays code objects, loaded with the file: the CLI's table holds what `dexa run -p` uses; the layer's is all bytes.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import importlib
import importlib.util
import marshal
import os
import sys
from pathlib import Path
from types import CodeType
from typing import Any

FILE_NAME = f"dataclass-code-{sys.implementation.cache_tag}.marshal"
# Shipped in the Lambda layer beside the dexa package (read-only there: /opt).
LAYER_TABLE = Path(__file__).resolve().parents[1] / "_dataclass_code" / FILE_NAME
# Entries beyond this are compiled and not kept: the table stays small whatever a process does.
MAX_ENTRIES = 4000
# The interpreter's bytecode magic and the table's layout (2: entries may be marshal bytes); another is not read.
KEY = (importlib.util.MAGIC_NUMBER, 2)


def trusted(info: os.stat_result) -> bool:
    """Owned by this user or root (a read-only layer), and no one else may write it."""
    return info.st_uid in (os.geteuid(), 0) and not info.st_mode & 0o022


class Table:
    def __init__(self, path: Path) -> None:
        self.path = path
        # Source text -> its code object, or that code object's marshal bytes until it is first looked up.
        self.code: dict[str, CodeType | bytes] = {}
        self.added = 0
        self.loaded = 0  # entries unmarshalled on lookup: what this process paid for beyond reading the file
        with contextlib.suppress(OSError, ValueError, EOFError, TypeError):
            with open(path, "rb") as fh:
                if not trusted(os.fstat(fh.fileno())):
                    return
                key, code = marshal.loads(fh.read())
            if key == KEY and isinstance(code, dict):
                self.code = code  # pyright: ignore[reportUnknownMemberType]

    def exec(self, source: Any, globals: Any = None, locals: Any = None, /) -> None:
        if isinstance(source, str):
            code = self.code.get(source)
            if type(code) is bytes:
                code = self._load(source, code)
            if code is None:
                code = compile(source, "<string>", "exec", dont_inherit=True)
                if source in self.code or len(self.code) < MAX_ENTRIES:
                    self.code[source] = code
                    self.added += 1
            source = code
        if globals is None:  # a bare `exec(text)` in dataclasses would run in that module's globals
            globals = vars(dataclasses)
        exec(source, globals, locals)  # what dataclasses itself does with the text

    def _load(self, source: str, raw: bytes) -> CodeType | None:
        """An entry's code object, kept for the next lookup (and saved as one: this process used it); None when the
        bytes are not one (compiled then)."""
        code = None
        with contextlib.suppress(ValueError, EOFError, TypeError):
            code = marshal.loads(raw)
        if not isinstance(code, CodeType):
            return None
        self.code[source] = code
        self.loaded += 1
        return code

    def save(self, mode: int = 0o600, *, lazy: bool = False) -> None:
        """Write the table back when this process added to it: what it used as code objects, the rest as bytes
        (`lazy`: everything as bytes, for a table a process uses a small part of)."""
        if not self.added:
            return
        code = {s: marshal.dumps(c) for s, c in self.code.items()} if lazy else self.code
        with contextlib.suppress(OSError, ValueError):  # a read-only home: compile again next time
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
            with os.fdopen(fd, "wb") as fh:
                fh.write(marshal.dumps((KEY, code)))
            tmp.replace(self.path)  # whole or not at all, whichever process writes last


def install(path: Path, *, save: bool) -> Table | None:
    """Give `dataclasses` the cached `exec` from the table at `path` (idempotent: the first install wins; None
    then); with `save`, new entries are written back at exit."""
    module: Any = dataclasses
    if "exec" in vars(module):
        return None
    table = Table(path)
    module.exec = table.exec
    if save:
        atexit.register(table.save)
    return table


def install_layer() -> None:
    """The layer's table, read only, when this Dexa was installed with one (a Lambda layer)."""
    if LAYER_TABLE.is_file():
        install(LAYER_TABLE, save=False)


def build(out: Path, modules: list[str]) -> int:
    """Import `modules` (`pkg.*`: every module under pkg) under a recording table and write it to `out`
    (read-only, 0444); the entry count."""
    table = install(out, save=False)
    if table is None:
        raise RuntimeError("dataclasses already has a cached exec in this process")
    table.code.clear()
    for name in modules:
        if not name.endswith(".*"):
            importlib.import_module(name)
            continue
        import pkgutil

        package = importlib.import_module(name[:-2])
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + ".", onerror=lambda _: None):
            if info.name.rpartition(".")[2] == "__main__":
                continue  # a program, not a module: importing it runs it
            # Every module a function may load; one that cannot load here (an optional dependency) is skipped.
            with contextlib.suppress(Exception):
                importlib.import_module(info.name)
    table.added = max(table.added, 1)
    with contextlib.suppress(FileNotFoundError):
        out.unlink()
    table.save(mode=0o444, lazy=True)  # a function uses a part of it: each entry loaded on its first lookup
    return len(table.code)


if __name__ == "__main__":
    # python -m dexa.core.codecache OUT|- MODULE|PACKAGE.* ...   ("-": the layer's table, beside this package)
    target = LAYER_TABLE if sys.argv[1] == "-" else Path(sys.argv[1])
    count = build(target, sys.argv[2:])
    print(f"{count} dataclass functions compiled into {target}")
