"""bashlex's LR parse tables, built once per machine instead of once per process.

bashlex builds its LALR tables with its bundled PLY at import time and never reads them back (measured: 0.2-0.9 s of
every `dexa run` that checks a Bash command). The tables depend only on the grammar, so they are cached in marshal
format (plain dicts of ints and strings: loading them runs no code) keyed by a digest of the grammar's productions.

A Lambda container's home is fresh /tmp, so every cold start would build them again: the layer build runs this file
as a script (`python -P bashlex_tables.py DIR`) and ships the tables read-only beside it, in BUNDLED_DIR.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import marshal
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

_installed = False
BUNDLED_DIR = Path(__file__).with_name("bashlex_lr")


def cache_dir() -> Path:
    base = os.environ.get("DEXA_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "dexa")
    return Path(base).expanduser() / "cache"


def install() -> None:
    """Patch bashlex's table builder before `bashlex` is first imported (idempotent)."""
    global _installed
    if _installed or "bashlex.parser" in sys.modules:
        return
    _installed = True
    spec = importlib.util.find_spec("bashlex")
    if spec is None or spec.loader is None:
        return
    # The package module exists before its __init__ runs (that import builds the tables), so bashlex.yacc can be
    # patched first; then __init__ runs in place and every later `import bashlex` gets this module.
    package = importlib.util.module_from_spec(spec)
    sys.modules["bashlex"] = package
    try:
        yacc = importlib.import_module("bashlex.yacc")
        _patch(yacc)
        spec.loader.exec_module(package)
    except BaseException:
        for name in [n for n in sys.modules if n == "bashlex" or n.startswith("bashlex.")]:
            del sys.modules[name]
        raise


def _patch(yacc: Any) -> None:
    """LRTable builds nothing when cached tables answer: not the tables (lr_parse_table), and not the grammar
    analyses only the build reads (LR items, FIRST and FOLLOW sets: ~13 ms of the ~28 ms import left with the tables
    cached, measured). The parser itself needs only the productions and the two tables."""
    init = yacc.LRTable.__init__
    build = yacc.LRTable.lr_parse_table
    analyses = ("build_lritems", "compute_first", "compute_follow")

    def cached_init(self: Any, grammar: Any, log: Any = None) -> None:
        path, tables = _cached(grammar.Productions)
        if tables is None:
            self.lr_parse_table = lambda: _build_and_save(self, build, path)
            init(self, grammar, log)
            del self.lr_parse_table
            return
        for name in analyses:
            setattr(grammar, name, _nothing)
        self.lr_parse_table = _nothing
        try:
            init(self, grammar, log)
        finally:
            for name in (*analyses, "lr_parse_table"):
                vars(grammar if name != "lr_parse_table" else self).pop(name, None)
        self.lr_action, self.lr_goto = tables

    yacc.LRTable.__init__ = cached_init


def _nothing() -> None:
    return None


def _cached(productions: Any) -> tuple[Path, Any]:
    """The home cache's path for this grammar, and its (action, goto) tables if shipped or cached, else None."""
    grammar = "\n".join(str(p) for p in productions)
    key = hashlib.sha256(f"{sys.version_info[:2]}\n{grammar}".encode()).hexdigest()[:24]
    name = f"bashlex-lr-{key}.marshal"
    path = cache_dir() / name
    for found in (BUNDLED_DIR / name, path):
        with contextlib.suppress(OSError, ValueError, EOFError, TypeError):
            action, goto = marshal.loads(found.read_bytes())
            if isinstance(action, dict) and isinstance(goto, dict):
                return path, (action, goto)
    return path, None


def _build_and_save(table: Any, build: Any, path: Path) -> None:
    build(table)
    with contextlib.suppress(OSError):  # a read-only home just means building again next time
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".bashlex-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(marshal.dumps((table.lr_action, table.lr_goto)))
        os.replace(tmp, path)


def prebuild(dest: Path) -> list[Path]:
    """Build the tables into `dest` (the layer's BUNDLED_DIR) with this interpreter: the key names its version."""
    os.environ["DEXA_HOME"] = str(dest.parent / f".{dest.name}-home")
    install()
    import bashlex  # noqa: F401  # pyright: ignore[reportUnusedImport] - the import builds (and caches) the tables

    built = sorted(cache_dir().glob("bashlex-lr-*.marshal"))
    if not built:
        raise SystemExit("bashlex_tables: no tables were built (is bashlex importable?)")
    dest.mkdir(parents=True, exist_ok=True)
    for table in built:
        table.chmod(0o644)  # mkstemp made it private; Lambda reads the layer as another user
        os.replace(table, dest / table.name)
    for leftover in (cache_dir(), cache_dir().parent):
        with contextlib.suppress(OSError):
            leftover.rmdir()
    return [dest / table.name for table in built]


if __name__ == "__main__":  # layers/dexa/build.sh: python -S -P bashlex_tables.py <layer>/dexa/permissions/bashlex_lr
    print("\n".join(str(p) for p in prebuild(Path(sys.argv[1]))))
