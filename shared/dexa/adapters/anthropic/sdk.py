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

Two more cuts keep the beta types off a successful request (about 1,500 -> 720 SDK modules): functions the client
imports by name but calls only for tracing or an HTTP error are forwarders to their real modules, imported on the
first call (DEFERRED_FUNCTIONS; `anthropic._error_classes` is a lazy plain module for that); and a client is built
with `open_telemetry=False` when no tracer provider is set, where the SDK's spans would record nothing anyway.
Without spans, a Messages request is posted through the client (`post_message_stream`) rather than the Messages
resource, whose module imports the message and beta types: about 50 SDK modules in all for a request. The SDK's
transport's HTTP/2 modules (`LAZY_HTTP2`) are lazy the same way until a connection uses them.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import sys
import threading
import warnings
from collections.abc import Mapping, Sequence, Set
from datetime import date
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

# HTTP/2 (h2, with hpack and hyperframe): the SDK's transport (httpcore2) imports it whole at import time, for
# connections that negotiate HTTP/2; a client built here speaks HTTP/1.1 (the SDK's default), so these stay lazy
# until first touched (~25 ms of CPU). `h2.config` runs: a transport class reads it in its body.
LAZY_HTTP2 = ("h2", "h2.connection", "h2.events", "h2.exceptions", "h2.settings")

# Functions the request path imports by name but calls only when a client records OpenTelemetry spans (the
# `lib._tracing` ones, and the stream helper's snapshot hooks, which look for a span) or when a response is an HTTP
# error (`make_status_error`). Their modules reach into the beta types (`types.beta.message_create_params` alone is
# ~600 modules, `_error_classes` ~300): about 1,000 modules and 0.5-1.5 s of CPU that a successful request without
# tracing never uses. Each is bound as a forwarder that imports its real module on its first call and calls the
# SDK's own function from then on. {module they are imported from: {name: module defining it}}
_TRACING = "anthropic.lib._tracing"
DEFERRED_FUNCTIONS: dict[str, dict[str, str]] = {
    _TRACING: {
        "finish_api_call_span": f"{_TRACING}._api_call",
        "messages_create_request_attributes": f"{_TRACING}._api_call",
        "sessions_create_request_attributes": f"{_TRACING}._api_call",
        "get": f"{_TRACING}._utils",
        "share_message_snapshot": f"{_TRACING}._streaming",
        "withhold_message_snapshot": f"{_TRACING}._streaming",
    },
    "anthropic._error_classes": {"make_status_error": "anthropic._error_classes"},
}

_FROM_IMPORT = re.compile(r"^from\s+(\.[\w.]*)\s+import\s+(\([^)]*\)|[^\n]*)", re.MULTILINE)
_NAME = re.compile(r"(\w+)(?:\s+as\s+(\w+))?")
_lock = threading.RLock()


def load() -> Any:
    """The `anthropic` package, lazily initialised (see the module docstring)."""
    with _lock:
        if "anthropic" not in sys.modules:
            if "h2" not in sys.modules and importlib.util.find_spec("h2") is not None:
                for name in LAZY_HTTP2:
                    _install(name)
            for name in LAZY_PACKAGES:
                _install(name)
            for holder, names in DEFERRED_FUNCTIONS.items():
                module = sys.modules.get(holder) or _install(holder)
                for attr, source in names.items():
                    setattr(module, attr, _forwarder(source, attr))
        return sys.modules["anthropic"]


def async_client(**kwargs: Any) -> Any:
    """`anthropic.AsyncAnthropic(**kwargs)` without the package-wide import."""
    load()
    from anthropic._client import AsyncAnthropic  # pyright: ignore[reportPrivateImportUsage]
    from anthropic._utils._logs import setup_logging  # pyright: ignore[reportPrivateImportUsage]

    # The one side effect of the package's __init__ that matters to a client: ANTHROPIC_LOG.
    setup_logging()
    if "open_telemetry" not in kwargs and not tracer_provider_set():
        kwargs["open_telemetry"] = False
    return AsyncAnthropic(**kwargs)


def tracer_provider_set() -> bool:
    """Whether an OpenTelemetry tracer provider is set (or named by OTEL_PYTHON_TRACER_PROVIDER) for the SDK's spans.

    Without one, OpenTelemetry's proxy provider gives spans that neither record nor carry a trace context, and the
    SDK drops them: but only after computing each request's span attributes, which imports the tracing helpers and
    the beta types they name (~1,000 modules, 0.5-1.5 s on the first request) and costs CPU on every request. A
    client built with `open_telemetry=False` skips that; the requests it sends are the same. A provider set later
    (dexa.adapters.otel installs one at start-up, before any request) is seen by clients built after it."""
    if os.environ.get("OTEL_PYTHON_TRACER_PROVIDER", "").strip():
        return True
    from opentelemetry import trace

    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


MESSAGES_PATH = "/v1/messages"


async def post_message_stream(client: Any, params: dict[str, Any], headers: dict[str, str]) -> Any:
    """`client.messages.create(**params, stream=True)`, as the SDK's own stream, yielding each event as a dict.

    A client that records spans (it has a tracer, and a provider is set: a proxy tracer records nothing) goes through
    the Messages resource itself, whose span names and attributes need it.
    Any other posts to /v1/messages through the client's `post`: the same auth, headers, error mapping and SSE
    stream (an `error` event raises the SDK's status error), minus two costs a request without spans does not need.
    The resource module imports the message and beta types (~300 modules, 0.3-0.5 s before the first request), and
    each event would be built into a model only to be turned back into a dict. The body is sent serialised once:
    the SDK would otherwise copy the whole history (every message, every tool schema) node by node on each request
    to find file inputs and omitted values, which a body built by `convert.build_params` never holds."""
    if client._tracer is not None and tracer_provider_set():  # pyright: ignore[reportPrivateUsage]
        return await create_message_stream(client, params, headers)
    from anthropic._base_client import make_request_options  # pyright: ignore[reportPrivateImportUsage]
    from anthropic._streaming import AsyncStream  # pyright: ignore[reportPrivateImportUsage]

    _warn_as_the_resource_does(params)
    # As the SDK's encoder writes a body (compact, UTF-8, no NaN).
    body = json.dumps(
        {**params, "stream": True}, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_json_default
    ).encode()
    return await client.post(
        MESSAGES_PATH,
        content=body,
        cast_to=object,  # the SDK's stream then yields each event's JSON as decoded, not a model
        options=make_request_options(extra_headers=headers or None),
        stream=True,
        stream_cls=AsyncStream[object],
    )


def _json_default(value: object) -> Any:
    """What the SDK's walk would have turned into plain data: other mappings, sequences, sets and dates."""
    if isinstance(value, Mapping):
        return dict(value)  # pyright: ignore[reportUnknownArgumentType]
    if isinstance(value, Sequence | Set) and not isinstance(value, str | bytes | bytearray):
        return list(value)  # pyright: ignore[reportUnknownArgumentType]
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"a Messages request body holds a {type(value).__name__}, which is not JSON: {value!r:.80}")


async def create_message_stream(client: Any, params: dict[str, Any], headers: dict[str, str]) -> Any:
    """`client.messages.create(**params, stream=True)` through the Messages resource, yielding events as dicts."""
    return _AsDicts(await client.messages.create(**params, stream=True, extra_headers=headers or None))


class _AsDicts:
    """A resource stream of event models, iterated as their dicts (what `post_message_stream` yields otherwise)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.response = stream.response

    async def __aenter__(self) -> _AsDicts:
        await self._stream.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stream.__aexit__(*exc)

    async def __aiter__(self) -> Any:
        async for event in self._stream:
            yield event.to_dict()


def _warn_as_the_resource_does(params: dict[str, Any]) -> None:
    """The two warnings `messages.create` gives, from the SDK's model data (`anthropic._data`)."""
    from anthropic._data.deprecated_models import DEPRECATED_MODELS  # pyright: ignore[reportPrivateImportUsage]
    from anthropic._data.models_to_warn_with_thinking_enabled import (  # pyright: ignore[reportPrivateImportUsage]
        MODELS_TO_WARN_WITH_THINKING_ENABLED,
    )

    model = params.get("model")
    if model in DEPRECATED_MODELS:
        warnings.warn(
            f"The model '{model}' is deprecated and will reach end-of-life on {DEPRECATED_MODELS[model]}.\nPlease "
            "migrate to a newer model. Visit https://docs.anthropic.com/en/docs/resources/model-deprecations for "
            "more information.",
            DeprecationWarning,
            stacklevel=4,
        )
    thinking = params.get("thinking")
    if model in MODELS_TO_WARN_WITH_THINKING_ENABLED and thinking and thinking.get("type") == "enabled":
        warnings.warn(
            f"Using Claude with {model} and 'thinking.type=enabled' is deprecated. Use 'thinking.type=adaptive' "
            "instead which results in better model performance in our testing: "
            "https://platform.claude.com/docs/en/build-with-claude/adaptive-thinking",
            UserWarning,
            stacklevel=4,
        )


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


def _forwarder(source: str, attr: str) -> Any:
    """A function that calls `source.attr`, importing (or, when lazy, initialising) `source` on its first call."""
    real: list[Any] = []

    def forward(*args: Any, **kwargs: Any) -> Any:
        if not real:
            real.append(getattr(_initialised(source), attr))
        return real[0](*args, **kwargs)

    forward.__name__ = forward.__qualname__ = attr
    forward.__module__ = source
    forward.__doc__ = f"{source}.{attr}, imported on first call (dexa.adapters.anthropic.sdk)."
    return forward


def _initialised(name: str) -> Any:
    """Module `name` with its code run: imported if absent, its real body run in place if it is a lazy one here."""
    with _lock:
        module = importlib.import_module(name)
        spec = module.__spec__
        if "__getattr__" in module.__dict__ and getattr(module, "__dexa_lazy__", False) and spec and spec.loader:
            del module.__dict__["__getattr__"]
            spec.loader.exec_module(module)  # the real code overwrites the forwarders with the SDK's own
        return module


def _install(name: str) -> Any:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.origin is None:
        raise ImportError(f"{name} is not importable")
    module = importlib.util.module_from_spec(spec)
    # A package resolves names one submodule at a time; a plain module has nothing to split, so any name runs it.
    # Its export map is read on the first name asked for: most of these packages are never asked (the beta types'
    # __init__ alone is 125 kB of source to scan).
    is_package = spec.submodule_search_locations is not None
    export_map: list[dict[str, tuple[str, str]]] = []

    def resolve(attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(f"module {name!r} has no attribute {attr!r}")
        with _lock:
            if "__getattr__" not in module.__dict__:  # another thread ran the full __init__ meanwhile
                return getattr(module, attr)
            if not export_map:
                export_map.append(_re_exports(spec.origin) if is_package else {})  # pyright: ignore[reportArgumentType]
            exports = export_map[0]
            if exports and importlib.util.find_spec(f"{name}.{attr}") is not None:
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
    module.__dexa_lazy__ = True  # pyright: ignore[reportAttributeAccessIssue]
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)
    return module


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


__all__ = [
    "DEFERRED_FUNCTIONS",
    "LAZY_HTTP2",
    "LAZY_PACKAGES",
    "MESSAGES_PATH",
    "async_client",
    "create_message_stream",
    "load",
    "plain_http_client",
    "post_message_stream",
    "tracer_provider_set",
]
