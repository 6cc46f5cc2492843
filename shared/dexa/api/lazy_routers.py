"""The API's routers, each imported on the first request that could reach it.

Why: importing a router module is where FastAPI builds its routes (it reads every endpoint's signature and builds
pydantic validators and serializers for its models). For all the routers that was most of the API Lambda's
cold start (~0.6 s of CPU), while one request needs one or two of them.

How: create_app includes one empty APIRouter per router, in the order the routers were always included, so route
priority is what it was. The first request whose path one of a module's routes could match (any method, so a wrong
method still answers 405, and with the trailing slash toggled, as the router's redirect does) imports the module and
includes its routers into their places. FastAPI notices through its routes version; no cache needs resetting. The
OpenAPI document loads every router first (LazyRouters.load_all), so it is complete and the same as an eager app's.
An extra router whose building is costly comes as DeferredRouters (its paths and a function that builds it) and is
built the same way.

SLOTS must list every path each router serves, or a request to a missing one would answer 404 on a cold app:
tests/functional/api/test_lazy_routers.py checks the table against the routers themselves.
"""

from __future__ import annotations

import functools
import re
import sys
import threading
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Final

from fastapi import APIRouter, FastAPI
from starlette.routing import compile_path

PACKAGE: Final = "dexa.api.routers"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class RouterSlot:
    """One router: the module (under dexa.api.routers) defining it, its attribute there, and the paths it serves."""

    module: str
    attr: str
    paths: tuple[str, ...]


# In the order the app includes them: of two routes matching one request, the first included wins.
SLOTS: Final = (
    RouterSlot(
        "admin",
        "router",
        (
            "/health",
            "/me",
            "/permissions/check",
            "/audit",
            "/users",
            "/keys",
            "/keys/{key_id}",
        ),
    ),
    RouterSlot(
        "sessions",
        "router",
        (
            "/sessions",
            "/sessions/{session_id}",
        ),
    ),
    RouterSlot(
        "session_actions",
        "router",
        (
            "/sessions/{session_id}/messages",
            "/sessions/{session_id}/abort",
            "/sessions/{session_id}/mode",
            "/sessions/{session_id}/fork",
            "/sessions/{session_id}/tools",
            "/sessions/{session_id}/todo",
            "/sessions/{session_id}/artifacts",
        ),
    ),
    RouterSlot(
        "session_commands",
        "router",
        (
            "/sessions/{session_id}/commands",
            "/sessions/{session_id}/compact",
            "/sessions/{session_id}/model",
            "/sessions/{session_id}/mcp",
        ),
    ),
    RouterSlot(
        "events",
        "router",
        ("/sessions/{session_id}/events",),
    ),
    RouterSlot(
        "approvals",
        "router",
        (
            "/sessions/{session_id}/approvals",
            "/sessions/{session_id}/approve",
            "/sessions/{session_id}/pending-outputs",
            "/sessions/{session_id}/pending-outputs/{output_id}/approve",
            "/sessions/{session_id}/pending-outputs/{output_id}/reject",
        ),
    ),
    RouterSlot(
        "outputs",
        "router",
        (
            "/outputs",
            "/approval-links/peek",
            "/approval-links/redeem",
        ),
    ),
    RouterSlot(
        "rewind",
        "router",
        (
            "/sessions/{session_id}/checkpoints",
            "/sessions/{session_id}/rewind",
            "/sessions/{session_id}/side-effects",
        ),
    ),
    RouterSlot(
        "integrations",
        "router",
        (
            "/integrations",
            "/integrations/mcp-allowlist",
            "/integrations/{integration_id}",
            "/integrations/{integration_id}/status",
            "/integrations/{integration_id}/policy",
            "/integrations/{integration_id}/oauth/start",
            "/integrations/{integration_id}/grants",
            "/integrations/{integration_id}/grants/{grant_for}",
        ),
    ),
    RouterSlot(
        "config",
        "router",
        (
            "/settings/permissions",
            "/output-policies",
            "/memory",
            "/schedules",
            "/schedules/{schedule_id}",
        ),
    ),
    RouterSlot(
        "triggers",
        "router",
        (
            "/triggers/github",
            "/review-channels",
            "/slack-users",
            "/triggers/email",
            "/triggers/slack",
            "/task-templates",
            "/task-templates/{template_id}",
        ),
    ),
    RouterSlot(
        "catalog",
        "router",
        (
            "/agents",
            "/skills",
            "/plugins",
            "/marketplaces",
        ),
    ),
    RouterSlot(
        "transfer",
        "router",
        (
            "/sessions/{session_id}/export-token",
            "/sessions/{session_id}/export",
            "/sessions/import",
        ),
    ),
    RouterSlot(
        "files",
        "router",
        (
            "/sessions/{session_id}/files",
            "/sessions/{session_id}/files/content",
            "/sessions/{session_id}/files/search",
            "/sessions/{session_id}/files/symbols",
        ),
    ),
    RouterSlot(
        "session_catalog",
        "router",
        (
            "/sessions/{session_id}/agents",
            "/sessions/{session_id}/commands",
            "/sessions/{session_id}/skills",
        ),
    ),
    RouterSlot(
        "session_mcp",
        "router",
        (
            "/sessions/{session_id}/mcp/{name}",
            "/sessions/{session_id}/mcp",
            "/sessions/{session_id}/mcp/{name}/auth",
        ),
    ),
    RouterSlot(
        "shares",
        "router",
        (
            "/sessions/{session_id}/summarize",
            "/sessions/{session_id}/shares",
            "/sessions/{session_id}/shares/{share_id}",
        ),
    ),
    RouterSlot(
        "terminal",
        "router",
        (
            "/sessions/{session_id}/terminal/tickets",
            "/sessions/{session_id}/terminal",
        ),
    ),
    RouterSlot(
        "integrations",
        "callback_router",
        ("/oauth/callback",),
    ),
    RouterSlot(
        "shares",
        "public_router",
        (
            "/shared/{token}",
            "/shared/{token}/view",
        ),
    ),
)


@dataclass(frozen=True)
class PathTemplate:
    """A route path matched as Starlette matches it, without a regex: compiling one per path (~100) was ~5 ms of a cold
    start, where splitting on "/" costs nothing. `{name}` is one non-empty segment; a final `{name:path}` is the rest
    of the path, possibly empty. Any other convertor is taken as any segment: matching more only loads a router that
    then answers 404. A segment mixing text and a parameter keeps Starlette's regex."""

    segments: tuple[str | None, ...]  # None: a parameter
    rest: bool  # ends with {name:path}: the path only has to start with the segments (and a "/")
    regex: re.Pattern[str] | None = None

    @classmethod
    def of(cls, path: str) -> PathTemplate:
        parts = path.split("/")
        if any("{" in part and not (part.startswith("{") and part.endswith("}")) for part in parts):
            return cls((), False, compile_path(path)[0])
        rest = parts[-1].endswith(":path}")
        if rest:
            parts = parts[:-1]
        return cls(tuple(None if part.startswith("{") else part for part in parts), rest)

    def matches(self, path: str) -> bool:
        if self.regex is not None:
            return self.regex.match(path) is not None
        parts = path.split("/")
        if self.rest:
            if len(parts) <= len(self.segments):
                return False
            parts = parts[: len(self.segments)]
        elif len(parts) != len(self.segments):
            return False
        pairs = zip(parts, self.segments, strict=True)
        return all(part == want if want is not None else part != "" for part, want in pairs)


@dataclass(frozen=True)
class DeferredRouters:
    """Routers built on the first request to one of `paths` (every path they serve, in full), or for the OpenAPI
    document: for an extra router whose building is itself costly (the code routes build the GitHub wiring)."""

    name: str
    paths: tuple[str, ...]
    build: Callable[[], Sequence[APIRouter]]


class LazyRouters:
    """The routers of SLOTS (and any DeferredRouters), included into `app` empty and filled on first use.
    Thread-safe: concurrent first requests for one group load and include it once (the others wait for it)."""

    def __init__(self, app: FastAPI, slots: Iterable[RouterSlot] = SLOTS, *, package: str = PACKAGE) -> None:
        self._app = app
        self._loaders: dict[str, Callable[[], None]] = {}
        self._patterns: list[tuple[PathTemplate, str]] = []
        self._loaded: set[str] = set()
        self._lock = threading.Lock()
        places: dict[str, list[tuple[str, APIRouter]]] = {}
        for slot in slots:
            places.setdefault(slot.module, []).append((slot.attr, self._place(slot.module, slot.paths)))
        for module, found in places.items():
            self._loaders[module] = functools.partial(_import_into, f"{package}.{module}", found)

    def defer(self, deferred: DeferredRouters) -> None:
        """Include `deferred` here (after what is already included), to be built on first use."""
        if deferred.name in self._loaders:
            raise ValueError(f"two router groups are named {deferred.name!r}")
        place = self._place(deferred.name, deferred.paths)

        def load() -> None:
            for router in deferred.build():
                place.include_router(router)

        self._loaders[deferred.name] = load

    def _place(self, group: str, paths: Iterable[str]) -> APIRouter:
        place = APIRouter()
        self._app.include_router(place)
        self._patterns += [(PathTemplate.of(path), group) for path in paths]
        return place

    @property
    def loaded(self) -> frozenset[str]:
        return frozenset(self._loaded)

    def groups_for(self, path: str) -> set[str]:
        """Every group with a route the path (or the path with its trailing slash toggled) could match."""
        toggled = path.rstrip("/") if path.endswith("/") else path + "/"
        return {group for template, group in self._patterns if template.matches(path) or template.matches(toggled)}

    def ensure(self, path: str) -> None:
        """Load and include the routers a request to `path` could be routed to."""
        if len(self._loaded) == len(self._loaders):
            return  # all loaded: no path to match (an eager app, or a warm one that has served everything)
        wanted = self.groups_for(path)
        if not wanted <= self._loaded:  # the common case, once warm, takes no lock
            self._load(wanted)

    def load_all(self) -> None:
        if len(self._loaded) != len(self._loaders):
            self._load(set(self._loaders))

    def _load(self, groups: set[str]) -> None:
        with self._lock:
            for group in self._loaders:  # in inclusion order
                if group in groups and group not in self._loaded:
                    self._loaders[group]()
                    self._loaded.add(group)


def _import_into(name: str, places: list[tuple[str, APIRouter]]) -> None:
    found = _import(name)
    for attr, place in places:
        place.include_router(getattr(found, attr))


def _import(name: str) -> ModuleType:
    # The import statement's machinery, not importlib.import_module: `python -X importtime` (which the cold-start
    # benchmark reads) does not see a module imported by importlib.import_module, only that module's own imports.
    __import__(name)
    return sys.modules[name]


class LoadRoutersFirst:
    """ASGI middleware: the routers a request could reach are loaded before the app routes it."""

    def __init__(self, app: ASGIApp, *, routers: LazyRouters) -> None:
        self.app = app
        self.routers = routers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            self.routers.ensure(route_path(scope))
        await self.app(scope, receive, send)


def route_path(scope: Scope) -> str:
    """The path the router matches: scope["path"] without the root_path, as Starlette's routing computes it."""
    path = str(scope["path"])
    root = str(scope.get("root_path") or "")
    if root and path.startswith(root) and (path == root or path[len(root)] == "/"):
        return path[len(root) :]
    return path
