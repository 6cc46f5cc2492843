"""The web UI behind API Gateway's stage: Mangum runs the app, StageRoot makes the stage its root_path, and the
redirects and the page's URLs stay inside `/v1` (a root-relative URL leaves it, and API Gateway answers 403)."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import FastAPI
from mangum import Mangum

from dexa.adapters.aws.stage_root import StageRoot, stage_root
from dexa.web.router import create_web_router


def rest_event(path: str, *, stage_path: str, query: dict[str, str] | None = None) -> dict[str, Any]:
    """A REST API (v1) proxy event as API Gateway sends it: `path` without the stage, requestContext.path with."""
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": "GET",
        "headers": {"Host": "abc.execute-api.us-east-1.amazonaws.com", "X-Forwarded-Proto": "https"},
        "multiValueHeaders": {"Host": ["abc.execute-api.us-east-1.amazonaws.com"], "X-Forwarded-Proto": ["https"]},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"path": stage_path, "stage": "v1", "requestId": "r", "identity": {"sourceIp": "1.2.3.4"}},
        "body": None,
        "isBase64Encoded": False,
    }


def handler() -> Any:
    app = FastAPI()
    app.include_router(create_web_router())
    mangum = Mangum(StageRoot(app), lifespan="off")
    return lambda event, context: mangum(event, context)  # Lambda passes a context; these events need none


def test_the_approval_link_redirect_and_the_page_stay_inside_the_stage() -> None:
    run = handler()
    event = rest_event("/outputs/review", stage_path="/v1/outputs/review", query={"token": "t.sig"})
    answer = run(event, None)
    assert answer["statusCode"] == 307
    assert answer["headers"]["location"] == "/v1/ui/review?token=t.sig"
    page = run(rest_event("/ui/review", stage_path="/v1/ui/review"), None)
    assert page["statusCode"] == 200
    body = page["body"]
    assert '<script type="module" src="/v1/ui/static/js/main.js">' in body
    assert 'href="/v1/ui/review"' in body and 'href="/v1/ui/static/css/app.css"' in body
    assert not re.search(r'(href|src)="/ui/', body), "a root-relative URL would leave the stage"
    config = re.search(r'id="dexa-config">(.*?)</script>', body)
    assert config is not None and json.loads(config[1])["base"] == "/v1"
    asset = run(rest_event("/ui/static/js/main.js", stage_path="/v1/ui/static/js/main.js"), None)
    assert asset["statusCode"] == 200 and asset["headers"]["content-type"].startswith("text/javascript")


def test_a_domain_mapped_at_its_root_keeps_root_relative_urls() -> None:
    run = handler()
    answer = run(rest_event("/outputs/review", stage_path="/outputs/review", query={"token": "x"}), None)
    assert answer["headers"]["location"] == "/ui/review?token=x"
    page = run(rest_event("/", stage_path="/"), None)["body"]
    assert 'src="/ui/static/js/main.js"' in page and '"base":""' in page


def test_stage_root_reads_only_the_event() -> None:
    assert stage_root({"path": "/ui", "requestContext": {"path": "/prod/base/ui"}}) == "/prod/base"
    assert stage_root({"path": "/", "requestContext": {"path": "/v1/"}}) == "/v1"
    assert stage_root({"path": "/x", "requestContext": {"path": "/y"}}) == ""  # inconsistent: no guess
    assert stage_root({"version": "2.0", "rawPath": "/x"}) == ""
    assert stage_root(None) == ""
