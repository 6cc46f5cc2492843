"""create_app: the one FastAPI app, served by `dexa serve` (uvicorn) and, later, by Lambda via Mangum."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.models import Schema
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from dexa import __version__
from dexa.auth.audit import AuditLog
from dexa.auth.bootstrap import LOCAL_ORG
from dexa.auth.orgpaths import OrgPaths
from dexa.auth.service import AuthService
from dexa.core.errors import DexaError
from dexa.core.events import EventType

from . import fastapi_compat
from .body_limit import DEFAULT_MAX_BODY_BYTES, BodyLimitMiddleware
from .deps import ApiContext
from .integrations import KvIntegrationRegistry
from .lazy_routers import DeferredRouters, LazyRouters, LoadRoutersFirst
from .outputs import KvOutputQueue, OutputExecutor
from .ports import (
    ApiRuntime,
    IntegrationRegistry,
    OAuthConnector,
    OutputQueue,
    PermissionChecker,
    Rewinder,
    SignedLinks,
)
from .problems import PROBLEM_MEDIA_TYPE, Problem, handle_exception
from .ratelimit import RateLimit, RateLimiter
from .schemas.common import EventPublic, SseFrame
from .sse import EventHub, StreamConfig
from .worker import ThreadSafeNotifier, TurnWorker

fastapi_compat.install()  # before any route is built: FastAPI's pydantic.v1 checks, without importing pydantic.v1

DESCRIPTION = """Dexa's HTTP API: sessions, their event streams, approvals, staged outputs, integrations and
org / workspace configuration (settings, output policy, memory, extensions, schedules).

Authenticate with `Authorization: Bearer <api key>`. Every resource belongs to the caller's org; another org's
ids answer 404. Errors are `application/problem+json` with a stable `code`.

Event types: """ + ", ".join(f"`{t}`" for t in EventType.all())


def _version() -> str:
    # The package's own constant, as `dexa --version` reports it: reading the installed metadata scanned every
    # sys.path entry for dist-info (~5 ms of a cold API Lambda, whose layer holds ~100 packages).
    return __version__


def create_app(
    runtime: ApiRuntime,
    *,
    auth: AuthService | None = None,
    rewinder: Rewinder | None = None,
    outputs: OutputQueue | None = None,
    output_executor: OutputExecutor | None = None,
    integrations: IntegrationRegistry | None = None,
    permission_check: PermissionChecker | None = None,
    oauth: OAuthConnector | None = None,
    approval_links: SignedLinks | None = None,
    config_home: str | os.PathLike[str] | None = None,
    rate_limit: RateLimit | None = None,
    stream: StreamConfig | None = None,
    default_cwd: str | None = None,
    org_paths: OrgPaths | None = None,
    test_mode: bool = False,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    turn_worker: bool = False,
    owns_runtime: bool = False,
    extra_routers: Sequence[APIRouter | DeferredRouters] = (),
    lazy_routers: bool = True,
    on_start: Callable[[], Awaitable[None]] | None = None,
) -> FastAPI:
    """Build the app over a runtime. Everything optional has a working default except `rewinder`,
    `permission_check`, `oauth`, `approval_links` and `config_home`, whose routes answer 501 until they are given.

    Args:
        runtime: dexa.wiring.Runtime (or anything with store, engine, driver and create_session).
        auth: key/user/org service; default: AuthService over runtime.store.
        rewinder: checkpoints + rewind.
        outputs: staged-output queue; default: KvOutputQueue(runtime.store, runtime.engine.emit, output_executor).
        output_executor: runs an approved output (only used by the default queue).
        integrations: default: KvIntegrationRegistry(runtime.store).
        permission_check: backs POST /permissions/check.
        oauth: OAuth sign-in for integrations (POST /integrations/{id}/oauth/start, GET /oauth/callback).
        approval_links: verifies and spends signed approval links (POST /approval-links/peek|redeem).
        config_home: the local org's home, whose ~/.claude its settings, memory and extension listings read (and
            write); every other org reads and writes its own scope under org_paths.scopes.
        rate_limit: per-org token bucket (default 100 req/s, burst 400).
        stream: SSE knobs (heartbeat, max stream length, buffered mode for Lambda).
        default_cwd: a directory registered as the local org's workspace (its default working directory), as
            `dexa serve` registers the directory it runs in; other orgs never see it.
        org_paths: where each org's workspaces and configuration scope live; default: under the runtime's home
            (`<home>/workspaces/<org_id>`, `<home>/orgs/<org_id>`) plus default_cwd for the local org.
        test_mode: accept `scripted:` model paths (they read files on the server); test harnesses only.
        max_body_bytes: request bodies above this get a 413 before authentication (default 10 MiB).
        turn_worker: run the engine and driver on their own loop thread (dexa.api.worker) so SSE delivery and
            requests stay fast while many turns run. Installs a thread-safe notifier on runtime.engine.
        owns_runtime: close the runtime (runtime.aclose, on the engine's loop) when the app shuts down.
        extra_routers: more routers (web UI, webhooks) mounted on the same app and error handling; a DeferredRouters
            among them is built on the first request to one of its paths (or now, without lazy_routers).
        lazy_routers: import the API's own routers on the first request that could reach them (the default: a
            cold start pays only for what it serves), or all of them now (False).
    """
    store = runtime.store
    worker: TurnWorker | None = None
    if turn_worker:
        # Before anything waits on it: waiters on both loops must be woken safely from either thread.
        runtime.engine.notifier = ThreadSafeNotifier()
        worker = TurnWorker()

    async def emit(session_id: str, type_: str, data: Mapping[str, Any]) -> object:
        if worker is None:
            return await runtime.engine.emit(session_id, type_, data)
        return await worker.call(runtime.engine.emit, session_id, type_, data)

    ctx = ApiContext(
        runtime=runtime,
        auth=auth or AuthService(store),
        audit=AuditLog(store),
        hub=EventHub(runtime.engine.notifier),
        limiter=RateLimiter(rate_limit or RateLimit()),
        stream=stream or StreamConfig(),
        outputs=outputs or KvOutputQueue(store, emit, output_executor),
        integrations=integrations or KvIntegrationRegistry(store),
        rewinder=rewinder,
        permission_check=permission_check,
        oauth=oauth,
        links=approval_links,
        paths=org_paths or default_org_paths(runtime, config_home=config_home, default_cwd=default_cwd),
        config_home=None if config_home is None else os.fspath(config_home),
        default_cwd=default_cwd,
        test_mode=test_mode,
        version=_version(),
        worker=worker,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if on_start is not None:
            await ctx.call(on_start)
        yield
        await ctx.hub.aclose()
        aclose = getattr(runtime, "aclose", None) if owns_runtime else None
        if aclose is not None:
            await ctx.call(aclose)
        if worker is not None:
            if aclose is None:
                await ctx.call(_stop_driver, runtime)
            worker.stop()

    # operationId = the route function's name: stable, readable, and what the Python client's methods map to.
    app = FastAPI(
        title="Dexa API",
        version=ctx.version,
        description=DESCRIPTION,
        lifespan=lifespan,
        generate_unique_id_function=lambda route: route.name,
    )
    app.state.dexa = ctx
    for exc_type in (DexaError, RequestValidationError, StarletteHTTPException, Exception):
        app.add_exception_handler(exc_type, handle_exception)
    # The routers are imported on the first request that could reach them (dexa.api.lazy_routers): that import is
    # most of a cold start, and a Lambda container often serves one or two of them. lazy_routers=False imports
    # them all now; the app answers the same either way.
    routers = app.state.routers = LazyRouters(app)
    app.add_middleware(LoadRoutersFirst, routers=routers)
    for extra in extra_routers:
        if isinstance(extra, DeferredRouters):
            routers.defer(extra)
        else:
            app.include_router(extra)
    if not lazy_routers:
        routers.load_all()
    # Outermost after Starlette's error middleware: runs before routing, authentication and body parsing (and
    # before a router is loaded for a request it refuses).
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)

    def openapi() -> dict[str, Any]:
        routers.load_all()  # the document describes every route, loaded or not
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def default_org_paths(
    runtime: ApiRuntime, *, config_home: str | os.PathLike[str] | None, default_cwd: str | None
) -> OrgPaths:
    """Org directories under the runtime's Dexa home; default_cwd becomes the local org's registered workspace."""
    settings = getattr(runtime, "settings", None)
    base = Path(settings.home) if settings is not None else Path(getattr(runtime, "home", ".dexa"))
    workspaces = settings.workspaces_dir if settings is not None else base / "workspaces"
    hosted = bool(getattr(settings, "hosted", False))
    extra = {} if default_cwd is None or hosted else {LOCAL_ORG: (Path(default_cwd),)}
    remote = None
    if getattr(settings, "sandbox", "") == "modal":  # cwd is a path in the session's remote workspace
        from dexa.adapters.modal.layout import WORKDIR

        remote = WORKDIR
    return OrgPaths(
        workspaces=Path(workspaces),
        scopes=base / "orgs",
        local_home=None if config_home is None or hosted else Path(config_home),
        extra_roots=extra,
        remote_root=remote,
    )


async def _stop_driver(runtime: ApiRuntime) -> None:
    aclose = getattr(runtime.driver, "aclose", None)
    if aclose is not None:
        await aclose()


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with errors as problem+json and the SSE frame schemas added."""
    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = doc.setdefault("components", {})
    # The routes name Problem by reference (dexa.api.problems.problem_content): its schema goes among FastAPI's
    # own, in their order and shape (FastAPI passes each through its Schema model).
    own = {**components.get("schemas", {}), "Problem": _as_fastapi_schema(Problem)}
    schemas = components["schemas"] = dict(sorted(own.items()))
    for model in (EventPublic, SseFrame):
        schemas[model.__name__] = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas["SseFrame"]["properties"]["data"].update(
        contentMediaType="application/json", contentSchema={"$ref": "#/components/schemas/EventPublic"}
    )
    for item in doc.get("paths", {}).values():
        for op in item.values():
            for status, response in op.get("responses", {}).items():
                content = response.get("content")
                if not content:
                    continue
                if status.isdigit() and int(status) >= 400 and "application/json" in content:
                    content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")
                elif "text/event-stream" in content:
                    content.pop("application/json", None)
    for unused in ("HTTPValidationError", "ValidationError"):
        if not _referenced(doc, f"#/components/schemas/{unused}"):
            schemas.pop(unused, None)
    return doc


def _as_fastapi_schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(mode="serialization", ref_template="#/components/schemas/{model}")
    return jsonable_encoder(Schema.model_validate(schema), by_alias=True, exclude_none=True)


def _referenced(doc: dict[str, Any], ref: str) -> bool:
    return f'"{ref}"' in json.dumps(doc["paths"])
