"""The API's routers load on first use (dexa.api.lazy_routers) and the app answers exactly as an eager one does."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import pkgutil
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_harness import Api, MemoryRewinder, make_config_api
from fastapi import APIRouter, FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

import dexa.api.routers
from dexa.api import lazy_routers
from dexa.api.app import create_app
from dexa.api.lazy_routers import PACKAGE, SLOTS

ROOT = Path(__file__).resolve().parents[3]


def _app(api: Api, *, lazy: bool) -> FastAPI:
    """Another app over the same runtime, auth and ports as `api` (cheap: the orgs and keys are already made)."""
    ctx = api.app.state.dexa
    app = create_app(
        api.runtime,
        auth=api.auth,
        rewinder=MemoryRewinder(),
        config_home=ctx.config_home,
        org_paths=ctx.paths,
        default_cwd=ctx.default_cwd,
        rate_limit=ctx.limiter.limit,
        stream=ctx.stream,
        test_mode=True,
        lazy_routers=lazy,
    )
    app.state.dexa.oauth, app.state.dexa.links = ctx.oauth, ctx.links
    return app


def _routes(app: FastAPI) -> list[tuple[str, str, tuple[str, ...]]]:
    """Every route the app routes by, in routing order: path, name and methods."""
    return [(str(r.path), str(r.name), tuple(sorted(r.methods or ()))) for r in iter_route_contexts(app.routes)]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Api:
    return make_config_api(tmp_path_factory.mktemp("lazy"), rewinder=MemoryRewinder())


def test_the_table_lists_every_router_and_every_path_it_serves() -> None:
    # A path missing here would answer 404 on a cold app: the table must be exactly what the routers serve.
    found: dict[tuple[str, str], list[str]] = {}
    for info in pkgutil.iter_modules(dexa.api.routers.__path__):
        module = importlib.import_module(f"{PACKAGE}.{info.name}")
        for attr, value in vars(module).items():
            if isinstance(value, APIRouter):
                alone = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
                alone.include_router(value)
                found[(info.name, attr)] = list(dict.fromkeys(str(r.path) for r in iter_route_contexts(alone.routes)))
    listed = {(slot.module, slot.attr): list(slot.paths) for slot in SLOTS}
    assert set(found) == set(listed), "add every module-level APIRouter of dexa/api/routers to lazy_routers.SLOTS"
    for key, paths in found.items():
        assert sorted(listed[key]) == sorted(paths), f"lazy_routers.SLOTS[{key}] must list exactly: {paths}"


def test_the_lazy_app_documents_and_routes_exactly_as_the_eager_one(api: Api) -> None:
    lazy, eager = _app(api, lazy=True), _app(api, lazy=False)
    assert _routes(lazy) != _routes(eager), "a fresh lazy app has loaded nothing yet"
    with TestClient(lazy) as c1, TestClient(eager) as c2:
        lazy_doc, eager_doc = c1.get("/openapi.json").json(), c2.get("/openapi.json").json()
    assert json.dumps(lazy_doc, sort_keys=True) == json.dumps(eager_doc, sort_keys=True)
    assert len(eager_doc["paths"]) > 60 and len(eager_doc["components"]["schemas"]) > 100
    assert _routes(lazy) == _routes(eager)  # same routes, same order: the same one wins when two match


def _operations(doc: dict[str, Any]) -> list[tuple[str, str]]:
    out = [(m.upper(), p) for p, item in doc["paths"].items() for m in item]
    return [*out, ("GET", "/sessions/"), ("PATCH", "/health"), ("GET", "/nowhere")]  # a redirect, a 405, a 404


def _answer(client: TestClient, method: str, path: str, headers: dict[str, str]) -> tuple[int, Any]:
    url = path.replace("{", "x").replace("}", "")  # /sessions/{session_id} -> /sessions/xsession_id
    response = client.request(method, url, headers=headers, follow_redirects=False)
    try:
        body = response.json()
    except ValueError:
        return response.status_code, response.headers.get("location")
    if isinstance(body, dict) and "code" in body:
        return response.status_code, (body["code"], body.get("detail"))
    return response.status_code, None


def test_every_operation_on_a_fresh_lazy_app_answers_as_the_eager_app_does(api: Api) -> None:
    with TestClient(_app(api, lazy=False)) as eager:
        operations = _operations(eager.get("/openapi.json").json())
        for method, path in operations:
            with TestClient(_app(api, lazy=True)) as fresh:
                got = _answer(fresh, method, path, api.h())
            assert got == _answer(eager, method, path, api.h()), f"{method} {path}"
            assert got[0] != 500, f"{method} {path}"
    assert sum(1 for _, p in operations if p.startswith("/sessions/{session_id}/")) > 30


def test_the_terminal_websocket_connects_on_a_fresh_lazy_app(api: Api) -> None:
    outcomes = []
    for lazy in (True, False):
        with TestClient(_app(api, lazy=lazy)) as client:
            with pytest.raises(WebSocketDisconnect) as closed:
                with client.websocket_connect("/sessions/nope/terminal?ticket=bad") as ws:
                    ws.receive_text()
            outcomes.append(closed.value.code)
    assert outcomes[0] == outcomes[1] and outcomes[0] != 1000


def test_a_request_loads_only_the_routers_that_could_serve_it(api: Api) -> None:
    app = _app(api, lazy=True)
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
        assert app.state.routers.loaded == {"admin"}
        assert client.get("/sessions/nope/events", headers=api.h()).status_code == 404
        assert app.state.routers.loaded == {"admin", "events"}
        # GET /sessions/{id}/commands is session_catalog's, POST session_commands': both load, either method works.
        assert client.post("/sessions/nope/commands", json={"command": "/review"}, headers=api.h()).status_code == 404
        assert app.state.routers.loaded == {"admin", "events", "session_catalog", "session_commands"}
        assert client.get("/sessions/", headers=api.h(), follow_redirects=False).status_code == 307
        assert "sessions" in app.state.routers.loaded


def test_concurrent_first_requests_include_a_router_once(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    def slow_import(name: str) -> Any:  # a cold import takes tens of ms: long enough for the others to arrive
        time.sleep(0.05)
        return importlib.import_module(name)

    monkeypatch.setattr(lazy_routers, "_import", slow_import)
    eager_count = sum(1 for r in _routes(_app(api, lazy=False)) if r[0] == "/sessions/{session_id}/events")
    app = _app(api, lazy=True)
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def first_request() -> None:
        try:
            start.wait()
            app.state.routers.ensure("/sessions/s1/events")
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=first_request) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors

    async def many() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            got = await asyncio.gather(*(client.get(f"/sessions/s{i}/checkpoints", headers=api.h()) for i in range(8)))
        return [r.status_code for r in got]

    assert set(asyncio.run(many())) == {404}
    routes = _routes(app)
    assert sum(1 for r in routes if r[0] == "/sessions/{session_id}/events") == eager_count == 1
    assert sum(1 for r in routes if r[0] == "/sessions/{session_id}/checkpoints") == 1


_LAMBDA = """
import asyncio, json, sys
sys.path.insert(0, sys.argv[1])
import handler  # functions/api/handler.py, as Lambda imports it
from dexa.auth.service import AuthService
from dexa.cloud.lambdas import cloud_runtime

async def key():
    auth = AuthService(cloud_runtime().store)
    org = await auth.create_org("lazy")
    user = await auth.create_user(org.id, "admin", "admin")
    return (await auth.create_key(org.id, user.id, "k"))[1]

class Context:
    function_name, function_version, memory_limit_in_mb, aws_request_id = "api", "$LATEST", 1024, "req-1"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:api"
    log_group_name, log_stream_name = "/aws/lambda/api", "s"
    def get_remaining_time_in_millis(self):
        return 60_000

def routers():
    return sorted(m.rsplit(".", 1)[1] for m in sys.modules if m.startswith("dexa.api.routers."))

HEAVY = ("dexa.code.setup", "dexa.gitproxy.router", "httpx", "sse_starlette", "uvicorn")

token = asyncio.run(key())
before = routers()
event = json.loads(sys.argv[2])
event["headers"]["Authorization"] = "Bearer " + token
answer = handler.handler(event, Context())
heavy = [m for m in HEAVY if m in sys.modules]
print("RESULT " + json.dumps({"status": answer["statusCode"], "before": before, "after": routers(), "heavy": heavy}))
"""


def test_the_api_lambda_serving_one_request_imports_only_that_requests_router(tmp_path: Path) -> None:
    event = json.loads((ROOT / "events" / "api_rest_create_session.json").read_text())
    event.update(httpMethod="GET", body=None)
    event["requestContext"].update(httpMethod="GET")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path / "unwritable"), "DEXA_HOME": str(tmp_path / "home")}
    env |= {"AWS_DEFAULT_REGION": "us-east-1", "AWS_LAMBDA_FUNCTION_NAME": "api", "PYTHONPATH": str(ROOT / "shared")}
    env["GITHUB_TOKEN"] = "ghp_configured"  # as deployed: the code routes exist, and are built when first needed
    argv = [sys.executable, "-c", _LAMBDA, str(ROOT / "functions" / "api"), json.dumps(event)]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, out.stderr[-3000:]
    result = json.loads(lines[-1].removeprefix("RESULT "))
    assert result == {"status": 200, "before": [], "after": ["sessions"], "heavy": []}


def test_the_code_routes_are_built_on_the_first_request_to_one_of_their_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Entered where the API Lambda enters: build_app over a real runtime with GitHub configured.
    from dexa.server_app import build_app
    from dexa.settings import DexaSettings
    from dexa.wiring import build_runtime

    monkeypatch.setenv("GITHUB_TOKEN", "ghp_dev")
    runtime = build_runtime(DexaSettings(home=tmp_path / "home"), env={"HOME": str(tmp_path)})
    try:
        lazy = build_app(runtime)
        with TestClient(lazy) as client:
            assert client.get("/health").status_code == 200
            assert "code" not in lazy.state.routers.loaded and runtime._code_checked is False  # pyright: ignore[reportPrivateUsage]
            first = client.get("/sessions/nope/pull-requests")
            assert "code" in lazy.state.routers.loaded and runtime.code is not None
            git = client.get("/git/s/ses_x/acme/api.git/info/refs?service=git-upload-pack")
            assert git.status_code == 401 and "Basic" in git.headers["www-authenticate"]
            lazy_doc = client.get("/openapi.json").json()
        eager = build_app(runtime, lazy_routers=False)
        with TestClient(eager) as client:
            again = client.get("/sessions/nope/pull-requests")
            assert (first.status_code, first.json()) == (again.status_code, again.json()) and first.status_code == 401
            eager_doc = client.get("/openapi.json").json()
        assert "/sessions/{session_id}/pull-requests" in eager_doc["paths"]
        assert json.dumps(lazy_doc, sort_keys=True) == json.dumps(eager_doc, sort_keys=True)
        assert _routes(lazy) == _routes(eager)
    finally:
        asyncio.run(runtime.aclose())


def test_the_code_paths_are_every_path_the_code_routes_serve(tmp_path: Path) -> None:
    from dexa.adapters.sqlite import SqliteStore
    from dexa.api.code_routes import PATHS, code_routers
    from dexa.code.setup import CodeSettings, build_code

    async def workspace_for(session: object) -> object:
        raise AssertionError("not called")

    async def served() -> list[str]:
        store = SqliteStore(tmp_path / "db.sqlite")
        try:
            async with httpx.AsyncClient() as http:
                wiring = build_code(CodeSettings(token="ghp_dev"), kv=store, state_dir=tmp_path, http=http)
                app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
                for router in code_routers(wiring, workspace_for=workspace_for):
                    app.include_router(router)
                return [str(r.path) for r in iter_route_contexts(app.routes)]
        finally:
            store.close()

    assert sorted(set(asyncio.run(served()))) == sorted(PATHS)


def test_the_inbound_and_web_paths_are_every_path_their_routers_serve(tmp_path: Path) -> None:
    # build_app defers both (an API Lambda's first request builds neither): a path missing from a table would
    # answer 404 on a cold app.
    from dexa.api.inbound import PATHS as INBOUND_PATHS
    from dexa.api.inbound import create_inbound_router
    from dexa.server_app import WEB_PATHS
    from dexa.web import create_web_router

    def served(router: APIRouter) -> list[str]:
        app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
        app.include_router(router)
        return list(dict.fromkeys(str(r.path) for r in iter_route_contexts(app.routes)))

    assert sorted(served(create_inbound_router(object(), {}))) == sorted(INBOUND_PATHS)
    assert sorted(served(create_web_router())) == sorted(WEB_PATHS)


def test_build_app_builds_the_inbound_and_web_routers_on_first_use(tmp_path: Path) -> None:
    from dexa.server_app import build_app
    from dexa.settings import DexaSettings
    from dexa.wiring import build_runtime

    runtime = build_runtime(DexaSettings(home=tmp_path / "home"), env={"HOME": str(tmp_path)})
    try:
        app = build_app(runtime)
        with TestClient(app) as client:
            assert client.get("/health").status_code == 200
            assert not {"inbound", "web"} & app.state.routers.loaded
            assert client.post("/webhooks/tasks/nope", content=b"{}").status_code == 404
            assert "inbound" in app.state.routers.loaded and "web" not in app.state.routers.loaded
            page = client.get("/ui/sessions/x")
            assert page.status_code == 200 and "text/html" in page.headers["content-type"]
            assert "web" in app.state.routers.loaded
    finally:
        asyncio.run(runtime.aclose())


def test_a_path_template_matches_exactly_what_starlettes_regex_matches() -> None:
    # LazyRouters matches request paths without compiling a regex per route path; what it matches must be what
    # Starlette's router matches (a miss would answer 404 on a cold app).
    from starlette.routing import compile_path

    from dexa.api.code_routes import PATHS as CODE_PATHS
    from dexa.api.inbound import PATHS as INBOUND_PATHS
    from dexa.api.lazy_routers import PathTemplate
    from dexa.server_app import WEB_PATHS

    templates = [p for slot in SLOTS for p in slot.paths] + [*CODE_PATHS, *INBOUND_PATHS, *WEB_PATHS]
    templates += ["/a/{x}.json", "/files/{path:path}", "/n/{id:int}"]  # a mixed segment, a path, a convertor
    requests = {"/", "", "//", "/nowhere", "/ui", "/ui/", "/ui/a/b", "/files/", "/files", "/a/1.json", "/a/.json"}
    for template in templates:
        for value in ("x", "ses_1", "a.git", "a/b", ""):
            filled = re.sub(r"{[^}]*}", value, template)
            requests |= {filled, filled + "/", filled.rstrip("/"), filled + "/more"}
    for template in templates:
        regex, matcher = compile_path(template)[0], PathTemplate.of(template)
        for path in requests:
            if template == "/n/{id:int}" and path.startswith("/n/"):
                assert matcher.matches(path) >= bool(regex.match(path)), path  # any segment: more, never less
                continue
            assert matcher.matches(path) == bool(regex.match(path)), (template, path)
