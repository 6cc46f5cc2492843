"""What the API's routes cost FastAPI to build, which a cold API Lambda pays on its first request, and the OpenAPI
document that must not change because of it (issue 14 item 5: API <= 500 ms of cold start)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from api_harness import Api, make_config_api
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from dexa.api.problems import Problem


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Api:
    return make_config_api(tmp_path_factory.mktemp("openapi"))


@pytest.fixture(scope="module")
def doc(api: Api) -> dict[str, Any]:
    with TestClient(api.app) as client:
        return client.get("/openapi.json").json()


def test_no_route_makes_fastapi_build_a_serializer_for_its_error_responses(api: Api) -> None:
    # A `{"model": Problem}` among a route's responses is a pydantic serializer built per error status, per route,
    # twice; the document is all that reads it. The errors name Problem by reference instead.
    api.app.state.routers.load_all()
    routes = [r.original_route for r in iter_route_contexts(api.app.routes)]
    api_routes = [r for r in routes if isinstance(r, APIRoute)]
    assert len(api_routes) > 60
    with_models = sorted({f"{r.name}: {status}" for r in api_routes for status in r.response_fields})
    assert not with_models, (
        f"error responses declared with a model (use dexa.api.problems.problem_content): {with_models}"
    )


def test_error_responses_are_problem_json_and_the_problem_schema_is_fastapis_own(doc: dict[str, Any]) -> None:
    errors = [
        response
        for item in doc["paths"].values()
        for op in item.values()
        for status, response in op["responses"].items()
        if int(status) >= 400
    ]
    assert len(errors) > 500
    assert all(
        response.get("content") == {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for response in errors
    )
    # What FastAPI itself documents for a route whose errors are declared with the model.
    probe = APIRouter()

    @probe.get("/probe", responses={404: {"model": Problem}})
    def probe_route() -> None: ...

    app = FastAPI()
    app.include_router(probe)
    schemas = app.openapi()["components"]["schemas"]
    assert json.dumps(doc["components"]["schemas"]["Problem"]) == json.dumps(schemas["Problem"])
    # In FastAPI's order (sorted), before the two frames build_openapi appends.
    names = list(doc["components"]["schemas"])
    assert names[-2:] == ["EventPublic", "SseFrame"] and names[:-2] == sorted(names[:-2])


def test_fastapi_still_refuses_a_pydantic_v1_model_once_one_can_exist() -> None:
    # dexa.api.fastapi_compat answers FastAPI's v1 check without importing pydantic.v1 while nothing has; a v1 model
    # needs pydantic.v1 imported, and then FastAPI's own check runs and refuses it as before.
    import subprocess
    import sys

    child = """
import sys
import dexa.api.app  # installs dexa.api.fastapi_compat
from fastapi import APIRouter
from pydantic import BaseModel

class Fine(BaseModel):
    x: int

router = APIRouter()
router.add_api_route("/fine", lambda: Fine(x=1), response_model=Fine)
assert "pydantic.v1" not in sys.modules, "building a route imported pydantic.v1"

from fastapi.exceptions import PydanticV1NotSupportedError
from pydantic import v1

class Old(v1.BaseModel):
    x: int

try:
    router.add_api_route("/old", lambda: None, response_model=Old)
except PydanticV1NotSupportedError:
    print("refused")
"""
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0 and out.stdout.strip() == "refused", out.stderr[-3000:]


def test_the_api_reports_the_installed_packages_version(doc: dict[str, Any], api: Api) -> None:
    # The app reads dexa.__version__ (no metadata scan on a cold start): it must be what the package is installed as.
    from importlib.metadata import version

    with TestClient(api.app) as client:
        health = client.get("/health").json()
    assert doc["info"]["version"] == health["version"] == version("dexa")
