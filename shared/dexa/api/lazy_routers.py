"""The API's routers, each imported on the first request that could reach it.

Why: importing a router module is where FastAPI builds its routes (it reads every endpoint's signature and builds
pydantic validators and serializers for its models). For the seventeen routers that was most of the API Lambda's
cold start (~0.6 s of CPU), while one request needs one or two of them.

How: create_app includes one empty APIRouter per router, in the order the routers were always included, so route
priority is what it was. The first request whose path one of a module's routes could match (any method, so a wrong
method still answers 405, and with the trailing slash toggled, as the router's redirect does) imports the module and
includes its routers into their places. FastAPI notices through its routes version; no cache needs resetting. The
OpenAPI document loads every router first (LazyRouters.load_all), so it is complete and the same as an eager app's.

SLOTS must list every path each router serves, or a request to a missing one would answer 404 on a cold app:
tests/functional/api/test_lazy_routers.py checks the table against the routers themselves.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
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


class LazyRouters:
    """The routers of SLOTS, included into `app` empty and filled on first use. Thread-safe: concurrent first
    requests for one module import and include it once (the others wait for it under the lock)."""

    def __init__(self, app: FastAPI, slots: Iterable[RouterSlot] = SLOTS, *, package: str = PACKAGE) -> None:
        self._slots = tuple(slots)
        self._package = package
        self._places = [APIRouter() for _ in self._slots]
        self._patterns = [(compile_path(path)[0], slot.module) for slot in self._slots for path in slot.paths]
        self._modules = frozenset(slot.module for slot in self._slots)
        self._loaded: set[str] = set()
        self._lock = threading.Lock()
        for place in self._places:
            app.include_router(place)

    @property
    def loaded(self) -> frozenset[str]:
        return frozenset(self._loaded)

    def modules_for(self, path: str) -> set[str]:
        """Every module with a route the path (or the path with its trailing slash toggled) could match."""
        toggled = path.rstrip("/") if path.endswith("/") else path + "/"
        return {module for regex, module in self._patterns if regex.match(path) or regex.match(toggled)}

    def ensure(self, path: str) -> None:
        """Import and include the routers a request to `path` could be routed to."""
        wanted = self.modules_for(path)
        if not wanted <= self._loaded:  # the common case, once warm, takes no lock
            self._load(wanted)

    def load_all(self) -> None:
        if self._loaded != self._modules:
            self._load(self._modules)

    def _load(self, modules: set[str] | frozenset[str]) -> None:
        with self._lock:
            for module in sorted(modules - self._loaded):
                found = importlib.import_module(f"{self._package}.{module}")
                for slot, place in zip(self._slots, self._places, strict=True):
                    if slot.module == module:
                        place.include_router(getattr(found, slot.attr))
                self._loaded.add(module)


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
