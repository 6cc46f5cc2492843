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
    build = yacc.LRTable.lr_parse_table

    def cached(self: Any) -> None:
        grammar = "\n".join(str(p) for p in self.lr_productions)
        key = hashlib.sha256(f"{sys.version_info[:2]}\n{grammar}".encode()).hexdigest()[:24]
        name = f"bashlex-lr-{key}.marshal"
        path = cache_dir() / name
        for found in (BUNDLED_DIR / name, path):
            with contextlib.suppress(OSError, ValueError, EOFError, TypeError):
                self.lr_action, self.lr_goto = marshal.loads(found.read_bytes())
                return
        build(self)
        with contextlib.suppress(OSError):  # a read-only home just means building again next time
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".bashlex-")
            with os.fdopen(fd, "wb") as fh:
                fh.write(marshal.dumps((self.lr_action, self.lr_goto)))
            os.replace(tmp, path)

    yacc.LRTable.lr_parse_table = cached


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
