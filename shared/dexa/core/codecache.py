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
create (~1,900 functions, 2 MB) and a cold API creates about a quarter of them. So a table is an index, read whole
(a 16-byte digest of each source text -> where the group of entries it is in lies), then the groups, mapped, each
unmarshalled whole on the first lookup of one of its entries. The layer's groups are the modules the classes are
defined in (a process that imports a module creates all its classes); a CLI table is one group, what the process
that saved it used (`dexa run -p` uses all of it). Grouped, not one entry at a time: an entry alone costs about
twice its share of a group (the names its code shares with the others are built again).
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import hashlib
import importlib
import importlib.util
import marshal
import mmap
import os
import sys
from pathlib import Path
from types import CodeType
from typing import Any, cast

FILE_NAME = f"dataclass-code-{sys.implementation.cache_tag}.marshal"
# Shipped in the Lambda layer beside the dexa package (read-only there: /opt).
LAYER_TABLE = Path(__file__).resolve().parents[1] / "_dataclass_code" / FILE_NAME
# Entries beyond this are compiled and not kept: the table stays small whatever a process does.
MAX_ENTRIES = 4000
# The interpreter's bytecode magic and the table's layout (4: an index, then groups of entries); another is not read.
KEY = (importlib.util.MAGIC_NUMBER, 4)
_HEAD = 8  # the index's length, little-endian, before it


def digest(source: str) -> bytes:
    return hashlib.blake2b(source.encode(), digest_size=16).digest()


def trusted(info: os.stat_result) -> bool:
    """Owned by this user or root (a read-only layer), and no one else may write it."""
    return info.st_uid in (os.geteuid(), 0) and not info.st_mode & 0o022


class Table:
    """The code of each source text: from the file's index (`digest -> (offset, length)` of the group of entries it
    is in, a marshalled `{digest: code object}`, in the mapped file), a whole group unmarshalled on its first lookup
    and kept, or compiled and added."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.index: dict[bytes, tuple[int, int]] = {}
        self.code: dict[bytes, CodeType] = {}  # looked up (or compiled) in this process, and their groups
        self.module: dict[bytes, str] = {}  # the module of the class each compiled entry was made for
        self.added = 0
        self.loaded = 0  # entries unmarshalled: what this process paid for beyond reading the index
        self._data: mmap.mmap | bytes = b""
        self._base = 0  # where the groups' bytes start in it
        with contextlib.suppress(OSError, ValueError, EOFError, TypeError):
            with open(path, "rb") as fh:
                info = os.fstat(fh.fileno())
                if not trusted(info):
                    return
                size = int.from_bytes(fh.read(_HEAD), "little")
                if size > info.st_size - _HEAD:  # another layout, or cut short
                    return
                key, index = marshal.loads(fh.read(size))
                if key != KEY or not isinstance(index, dict):
                    return
                # Mapped, not read: only the pages of the groups looked up are touched.
                self._data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
            self._base = _HEAD + size
            self.index = index  # pyright: ignore[reportUnknownMemberType]

    def __len__(self) -> int:
        return len(self.index.keys() | self.code.keys())

    def __contains__(self, source: str) -> bool:
        return digest(source) in self.index or digest(source) in self.code

    def exec(self, source: Any, globals: Any = None, locals: Any = None, /) -> None:
        if isinstance(source, str):
            key = digest(source)
            code = self.code.get(key) or self._load(key)
            if code is None:
                code = compile(source, "<string>", "exec", dont_inherit=True)
                if key in self.index or len(self.index) + self.added < MAX_ENTRIES:
                    self.code[key] = code
                    self.added += 1
                    # dataclasses runs the text in the globals of the class's module: the layer's groups.
                    with contextlib.suppress(TypeError, KeyError):
                        self.module[key] = str(globals["__name__"])
            source = code
        if globals is None:  # a bare `exec(text)` in dataclasses would run in that module's globals
            globals = vars(dataclasses)
        exec(source, globals, locals)  # what dataclasses itself does with the text

    def _raw(self, key: bytes) -> bytes:
        offset, length = self.index[key]
        return self._data[self._base + offset : self._base + offset + length]

    def _load(self, key: bytes) -> CodeType | None:
        """An entry's code object from the file, with the rest of its group, kept for their next lookup; None when
        the table has none (or its bytes are not a group: compiled then)."""
        if key not in self.index:
            return None
        group: Any = None
        with contextlib.suppress(ValueError, EOFError, TypeError, IndexError):
            group = marshal.loads(self._raw(key))
        entries = cast("dict[bytes, object]", group) if isinstance(group, dict) else {}
        if not isinstance(entries.get(key), CodeType):
            return None
        for other, code in entries.items():
            if isinstance(code, CodeType) and other not in self.code:
                self.code[other] = code
                self.loaded += 1
        return self.code[key]

    def save(self, mode: int = 0o600, *, groups: list[list[bytes]] | None = None) -> None:
        """Write the table back when this process added to it: by default what it used (or compiled) as one group,
        the groups it did not touch copied as they were."""
        if not self.added:
            return
        with contextlib.suppress(OSError, ValueError):  # a read-only home: compile again next time
            blobs = [(keys, marshal.dumps({k: self.code[k] for k in keys})) for keys in groups or [list(self.code)]]
            untouched: dict[tuple[int, int], list[bytes]] = {}
            for key, span in self.index.items():
                if key not in self.code:  # a group is loaded whole: none of its entries used
                    untouched.setdefault(span, []).append(key)
            blobs += [(keys, self._raw(keys[0])) for keys in untouched.values()]
            index: dict[bytes, tuple[int, int]] = {}
            offset = 0
            for keys, blob in blobs:
                index |= dict.fromkeys(keys, (offset, len(blob)))
                offset += len(blob)
            head = marshal.dumps((KEY, index))
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
            with os.fdopen(fd, "wb") as fh:
                fh.write(len(head).to_bytes(_HEAD, "little"))
                fh.write(head)
                for _, blob in blobs:
                    fh.write(blob)
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
    table.index.clear()
    table.module.clear()
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
    # One group per module the classes are defined in: a process that imports a module creates them all.
    by_module: dict[str, list[bytes]] = {}
    for key in table.code:
        by_module.setdefault(table.module.get(key, ""), []).append(key)
    table.save(mode=0o444, groups=list(by_module.values()))
    return len(table)


if __name__ == "__main__":
    # python -m dexa.core.codecache OUT|- MODULE|PACKAGE.* ...   ("-": the layer's table, beside this package)
    target = LAYER_TABLE if sys.argv[1] == "-" else Path(sys.argv[1])
    count = build(target, sys.argv[2:])
    print(f"{count} dataclass functions compiled into {target}")
