"""The real `anthropic` SDK, imported piecemeal: only the modules a Messages request touches.

`import anthropic` runs the package's `__init__`, which imports every type the SDK has (about 3,000 modules,
mostly `anthropic.types.beta` reached through `anthropic.types.shared`): 1.1-2 s of CPU before the first request,
most of a headless `dexa run -p`. The client, its transport and the Messages resource need a few hundred.

`load()` registers `anthropic`, `anthropic.types` and `anthropic.types.shared` as lazy packages before anything
imports them: the real package objects (same spec, path and loader), whose `__init__` has not run yet. An attribute
is resolved on first use, cheapest first:
  1. a submodule (`anthropic._client`) is imported as such;
  2. a name the `__init__` re-exports from one submodule (`anthropic.APIError` from `._exceptions`) imports that
     submodule only; the map is read from the `__init__`'s own `from .x import A as A` lines;
  3. anything else (a `*` re-export, a name computed at import) runs the real `__init__` into the package, so
     `anthropic` behaves exactly as imported normally from then on.
Classes are the SDK's own either way (an `isinstance` against `anthropic.APIError` holds before and after a full
load). If `anthropic` is already imported, `load()` changes nothing.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
import threading
from typing import Any

# Parents first: a child's spec is found through its parent's __path__.
LAZY_PACKAGES = (
    "anthropic",
    "anthropic.types",
    "anthropic.types.shared",  # error details, reaching into the beta types
    "anthropic.types.beta",
    "anthropic.types.organization",  # reached from anthropic._error_classes
    "anthropic.resources",  # every API resource, beta included
    "anthropic.lib._tracing",
    "anthropic.lib.streaming",  # the beta message stream helpers
    "anthropic._vendor.httpx_aiohttp",  # aiohttp (~40 modules), for a client built with it only
)

_FROM_IMPORT = re.compile(r"^from\s+(\.[\w.]*)\s+import\s+(\([^)]*\)|[^\n]*)", re.MULTILINE)
_NAME = re.compile(r"(\w+)(?:\s+as\s+(\w+))?")
_lock = threading.RLock()


def load() -> Any:
    """The `anthropic` package, lazily initialised (see the module docstring)."""
    with _lock:
        if "anthropic" not in sys.modules:
            for name in LAZY_PACKAGES:
                _install(name)
        return sys.modules["anthropic"]


def async_client(**kwargs: Any) -> Any:
    """`anthropic.AsyncAnthropic(**kwargs)` without the package-wide import."""
    load()
    from anthropic._client import AsyncAnthropic  # pyright: ignore[reportPrivateImportUsage]
    from anthropic._utils._logs import setup_logging  # pyright: ignore[reportPrivateImportUsage]

    # The one side effect of the package's __init__ that matters to a client: ANTHROPIC_LOG.
    setup_logging()
    return AsyncAnthropic(**kwargs)


def plain_http_client() -> Any:
    """The SDK's default HTTP client without TLS setup when ANTHROPIC_BASE_URL is plain http:// (a loopback
    server, a local proxy): building the CA bundle's SSL context costs 30-80 ms of CPU and such a URL never uses
    it. None (the SDK builds its own, verifying) for any other URL. Read from the process environment, as the
    SDK reads the URL itself."""
    if not os.environ.get("ANTHROPIC_BASE_URL", "").strip().lower().startswith("http://"):
        return None
    load()
    from anthropic._base_client import DefaultAsyncHttpxClient  # pyright: ignore[reportPrivateImportUsage]

    return DefaultAsyncHttpxClient(verify=False)


def _install(name: str) -> None:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.origin is None or spec.submodule_search_locations is None:
        raise ImportError(f"{name} is not an importable package")
    module = importlib.util.module_from_spec(spec)
    exports = _re_exports(spec.origin)

    def resolve(attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(f"module {name!r} has no attribute {attr!r}")
        with _lock:
            if "__getattr__" not in module.__dict__:  # another thread ran the full __init__ meanwhile
                return getattr(module, attr)
            if importlib.util.find_spec(f"{name}.{attr}") is not None:
                return importlib.import_module(f"{name}.{attr}")
            if attr in exports:
                relative, original = exports[attr]
                value = getattr(importlib.import_module(relative, name), original)
                setattr(module, attr, value)
                return value
            del module.__dict__["__getattr__"]
            spec.loader.exec_module(module)  # pyright: ignore[reportOptionalMemberAccess]
            return getattr(module, attr)

    module.__getattr__ = resolve  # pyright: ignore[reportAttributeAccessIssue]
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)


def _re_exports(init_path: str) -> dict[str, tuple[str, str]]:
    """{exported name: (relative module, name in it)} from an `__init__`'s `from .x import A as A` lines."""
    with open(init_path, encoding="utf-8") as f:
        source = f.read()
    exports: dict[str, tuple[str, str]] = {}
    for relative, names in _FROM_IMPORT.findall(source):
        names = re.sub(r"#[^\n]*", "", names).strip("() \n")
        if names == "*" or relative == ".":
            continue
        for original, alias in _NAME.findall(names):
            exports[alias or original] = (relative, original)
    return exports


__all__ = ["LAZY_PACKAGES", "async_client", "load", "plain_http_client"]
