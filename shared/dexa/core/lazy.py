"""A package's names loaded on first use (PEP 562), for packages whose submodules a cold process mostly never needs.

`__import__` rather than `importlib.import_module`: `-X importtime`, which the cold-start benchmarks read, reports
only imports made through the import statement's machinery, and `import_module` would hide a module's own time.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` for `package`: `exports` maps each public name to the module defining it, relative to
    the package (".api") or absolute ("dexa.code.tokens"), as `importlib.import_module` reads them. A name loaded
    once is set on the package, so later uses never come back here (and a submodule sharing an exported name's
    spelling cannot shadow it)."""

    def __getattr__(name: str) -> Any:
        where = exports.get(name)
        if where is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = __import__(package + where if where.startswith(".") else where, fromlist=[name])
        value = getattr(module, name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__


__all__ = ["lazy_exports"]
