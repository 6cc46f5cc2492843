"""What the synthesized stage declares, applied by the API Gateway-shaped front (api_front.py): the stage's method
throttling (429 with the stack's THROTTLED gateway response and API Gateway's headers, a bucket per method) and
its JSON access log, written to the declared log group one line per request with the fields the format names.
The usage plan's per-key throttle and quota are in test_browser_front.py."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from .client import ApiClient
from .harness import Cloud
from .test_browser_front import add_org

pytestmark = pytest.mark.timeout(300)


def declared_stage(cloud: Cloud) -> dict[str, Any]:
    """The stage's properties in the synthesized template (the API stack's one AWS::ApiGateway::Stage)."""
    template = json.loads((cloud.cdk_out / f"{cloud.api_stack}.template.json").read_text())
    (stage,) = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::ApiGateway::Stage"]
    return stage


def deployed_stage(cloud: Cloud) -> dict[str, Any]:
    return cloud.client("apigateway").get_stage(restApiId=cloud.api.api_id, stageName=cloud.api.stage)


@contextmanager
def stage_throttle(cloud: Cloud, key: str, rate: float, burst: int) -> Iterator[None]:
    """An operator's change of one method setting's throttle (the console's stage throttling), applied by the front
    as API Gateway applies a stage update; put back as deployed on the way out."""
    apigw = cloud.client("apigateway")
    before = deployed_stage(cloud)["methodSettings"].get(key, {})

    def put(rate: float, burst: int) -> None:
        ops = [
            {"op": "replace", "path": f"/{key}/throttling/rateLimit", "value": str(rate)},
            {"op": "replace", "path": f"/{key}/throttling/burstLimit", "value": str(burst)},
        ]
        apigw.update_stage(restApiId=cloud.api.api_id, stageName=cloud.api.stage, patchOperations=ops)
        cloud.api.refresh()

    put(rate, burst)
    try:
        yield
    finally:  # a key made for the test keeps the defaults: 10,000/s, 5,000 burst, as AWS's account limits
        put(float(before.get("throttlingRateLimit", 10000)), int(before.get("throttlingBurstLimit", 5000)))


def test_the_stage_carries_the_declared_throttle_and_access_log_settings(cloud: Cloud) -> None:
    declared = declared_stage(cloud)
    stage = deployed_stage(cloud)
    (everything,) = [s for s in declared["MethodSettings"] if (s["ResourcePath"], s["HttpMethod"]) == ("/*", "*")]
    applied = stage["methodSettings"]["*/*"]
    assert applied["throttlingRateLimit"] == everything["ThrottlingRateLimit"], applied
    assert applied["throttlingBurstLimit"] == everything["ThrottlingBurstLimit"], applied
    access = stage["accessLogSettings"]
    assert access["format"] == declared["AccessLogSetting"]["Format"], access
    assert cloud.api.access_log is not None and cloud.api.access_log.group in access["destinationArn"]
    # The stack asks for a sensible ceiling, well above one org's plan (a stage limit under a plan's would make the
    # plan's limit unreachable).
    (plan,) = cloud.deployment.physical(cloud.api_stack, "AWS::ApiGateway::UsagePlan")
    org_plan = cloud.client("apigateway").get_usage_plan(usagePlanId=plan.ref)
    assert applied["throttlingRateLimit"] >= 10 * org_plan["throttle"]["rateLimit"], (applied, org_plan)


def test_the_stage_throttle_refuses_with_429_per_method_before_the_authorizer(cloud: Cloud) -> None:
    health = f"{cloud.api.url}/health"
    org = add_org(cloud, "stage-throttle")
    client = ApiClient(cloud.api.url, org["token"])
    with stage_throttle(cloud, "*/*", 0.01, 2):
        # Each method has a bucket of its own under the stage-wide setting: GET /health spends two...
        codes = [httpx.get(health, timeout=30).status_code for _ in range(3)]
        assert codes == [200, 200, 429], codes
        refused = httpx.get(health, timeout=30)
        # ...and GET / (another method) still has its own two.
        assert [httpx.get(f"{cloud.api.url}/", timeout=30).status_code for _ in range(2)] == [200, 200]
        # A keyed request is refused before the authorizer runs: no org's plan is charged.
        metered = cloud.api.metered[org["gateway_key_id"]]
        first = [client.request("GET", "/me").status_code for _ in range(3)]
        assert first == [200, 200, 429], first
        assert cloud.api.metered[org["gateway_key_id"]] == metered + 2
    assert refused.status_code == 429
    # The stack's THROTTLED gateway response (problem+json), with API Gateway's own headers.
    assert refused.headers["content-type"] == "application/problem+json", refused.headers
    assert refused.json()["code"] == "rate_limited" and refused.json()["status"] == 429, refused.text
    assert refused.headers["x-amzn-ErrorType"] == "TooManyRequestsException", refused.headers
    assert re.fullmatch(r"[0-9a-f-]{36}", refused.headers["x-amzn-RequestId"]), refused.headers
    # Put back as deployed: the method answers again.
    assert httpx.get(health, timeout=30).status_code == 200


def test_one_access_log_line_per_request_with_the_declared_fields(cloud: Cloud) -> None:
    log = cloud.api.access_log
    assert log is not None, "the stage declares no access log"
    org = add_org(cloud, "access-log")
    client = ApiClient(cloud.api.url, org["token"])
    since = int(time.time() * 1000) - 1000
    responses = [
        httpx.get(f"{cloud.api.url}/health", timeout=30),  # public, 200
        httpx.get(f"{cloud.api.url}/sessions", timeout=30),  # no key: the authorizer's 401
        client.request("GET", "/sessions"),  # keyed, 200
        httpx.post(f"{cloud.api.url}/health", timeout=30),  # a method the API does not have: 403
    ]
    ids = [r.headers["x-amzn-RequestId"] for r in responses]
    # The front records a request's line after its response is written (API Gateway too logs after the fact), so
    # the last one may not be recorded yet when the client has its answer, and a flush then would not wait for it:
    # wait until every request has its line (on a loaded 2-core machine the handler thread can lag by seconds).
    deadline = time.monotonic() + 60
    while True:
        log.flush()
        events = cloud.client("logs").filter_log_events(logGroupName=log.group, startTime=since)["events"]
        lines = [json.loads(e["message"]) for e in events]
        if {line["requestId"] for line in lines} >= set(ids) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    fields = re.findall(r'"(\w+)":"\$context\.', declared_stage(cloud)["AccessLogSetting"]["Format"])
    assert {"requestId", "status", "httpMethod", "resourcePath"} <= set(fields), fields
    for response, request_id in zip(responses, ids, strict=True):
        mine = [line for line in lines if line["requestId"] == request_id]
        assert len(mine) == 1, (request_id, mine)  # one line per request
        (line,) = mine
        assert sorted(line) == sorted(fields), line  # exactly the fields the format names
        assert line["status"] == str(response.status_code), (line, response.status_code)
        assert line["httpMethod"] == response.request.method, line
        assert line["responseLength"] == str(len(response.content)), (line, len(response.content))
        assert line["ip"] == "127.0.0.1" and line["protocol"] == "HTTP/1.1", line
        assert re.fullmatch(r"\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0000", line["requestTime"]), line
    health, unkeyed, keyed, nowhere = (next(x for x in lines if x["requestId"] == i) for i in ids)
    assert health["resourcePath"] == "/health" and keyed["resourcePath"] == "/sessions", (health, keyed)
    assert unkeyed["status"] == "401" and nowhere["status"] == "403" and nowhere["httpMethod"] == "POST"
    # API Gateway writes "-" for what it does not know (no IAM caller or user on these requests).
    assert health["user"] == "-" and health["caller"] == "-", health
