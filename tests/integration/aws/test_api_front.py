"""The deployed API function as API Gateway calls it: functions/api/handler.py loaded from its file, the cloud runtime
built from the environment the stack sets (DynamoDB + S3 in moto), REST proxy events and REQUEST authorizer events.

Entering here covers what the API Gateway front depends on: errors and SSE come back as plain text (not base64),
a buffered event stream long-polls, a browser (no headers but its cookie) is metered under its org's gateway key,
and an emailed approval link opens from a plain GET.
"""

from __future__ import annotations

import asyncio
import json
import runpy
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dexa.adapters.aws.api_front import Unauthorized
from dexa.adapters.aws.dynamo_store import DynamoStore
from dexa.adapters.aws.gateway_keys import ApiGatewayKeys
from dexa.adapters.aws.moto_harness import LambdaContext
from dexa.auth.provision import bootstrap
from dexa.auth.service import AuthService
from dexa.cloud import lambdas
from dexa.core.session import Session
from dexa.settings import get_settings

ROOT = Path(__file__).resolve().parents[3]
HOST = "abc123.execute-api.us-east-1.amazonaws.com"
METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/v1/GET/sessions"

Handler = Callable[[dict[str, Any], Any], Any]


# How long a quiet buffered stream holds. The long-poll tests tell "answered at once" or "woke early" from "held
# to the end" by the clock; the hold is what separates them, and it has to fit a loaded 2-core machine's slowness:
# with 1.5 s, an explicit poll that answers at once took 1.75 s there (load ~30).
LONG_POLL_S = 5.0


@pytest.fixture
def deployed(aws: None, clients: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """The API function with the stack's environment, and a bootstrapped org (Dexa key + gateway key)."""
    import boto3

    table, bucket = f"dexa-front-{tmp_path.name}", f"dexa-front-{tmp_path.name}".lower()[:60]
    DynamoStore(table, client=clients["dynamodb"]).create_table()
    clients["s3"].create_bucket(Bucket=bucket)
    for key, value in {
        "DEXA_STORE": "dynamo",
        "DEXA_TABLE": table,
        "DEXA_BUCKET": bucket,
        "DEXA_HOSTED": "1",
        "DEXA_HOME": str(tmp_path / "home"),
        "DEXA_SSE_LONG_POLL_S": str(LONG_POLL_S),
    }.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    lambdas.cloud_runtime.cache_clear()
    apigw = boto3.client("apigateway", region_name="us-east-1")
    plan = apigw.create_usage_plan(name="per-org", quota={"limit": 100_000, "period": "DAY"})["id"]
    store = DynamoStore(table, client=clients["dynamodb"])
    auth = AuthService(store)
    result = asyncio.run(bootstrap(auth, ApiGatewayKeys(plan, client=apigw), org_name="acme", admin_name="alice"))
    assert result.provisioned is not None
    handler: Handler = runpy.run_path(str(ROOT / "functions" / "api" / "handler.py"))["handler"]

    class World:
        pass

    world: Any = World()
    world.handler, world.store, world.auth, world.apigw = handler, store, auth, apigw
    world.token, world.gateway = result.provisioned.token, result.provisioned.gateway_key
    world.org_id, world.plan = result.org_id, plan
    yield world
    get_settings.cache_clear()
    lambdas.cloud_runtime.cache_clear()


def rest(method: str, path: str, *, headers: dict[str, str] | None = None, body: Any = None, **query: str) -> dict:
    """A REST API (v1) proxy event as API Gateway sends it for stage v1."""
    hdrs = {"Host": HOST, "X-Forwarded-Proto": "https", "X-Forwarded-Port": "443", **(headers or {})}
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": hdrs,
        "multiValueHeaders": {k: [v] for k, v in hdrs.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} or None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": f"/v1{path}",
            "stage": "v1",
            "requestId": f"req-{time.monotonic_ns()}",
            "accountId": "123456789012",
            "apiId": "abc123",
            "identity": {"sourceIp": "203.0.113.10"},
            "requestTimeEpoch": int(time.time() * 1000),
        },
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }


def authorizer_event(headers: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "REQUEST",
        "methodArn": METHOD_ARN,
        "resource": "/{proxy+}",
        "path": "/sessions",
        "httpMethod": "GET",
        "headers": {"Host": HOST, **headers},
        "queryStringParameters": {},
        "requestContext": {"stage": "v1", "apiId": "abc123"},
    }


def bearer(world: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.token}"}


def call(world: Any, event: dict[str, Any]) -> dict[str, Any]:
    return world.handler(event, LambdaContext("api"))


def _session(world: Any, sid: str = "ses_front") -> str:
    now = time.time()
    cwd = str(get_settings().workspaces_dir / world.org_id)
    s = Session(id=sid, org_id=world.org_id, user_id="u", cwd=cwd, model="scripted", created_at=now, updated_at=now)
    asyncio.run(world.store.create_session(s))
    asyncio.run(world.store.append_event(sid, "session.created", {"cwd": cwd}))
    return sid


# ---------------------------------------------------------------- bodies are text


@pytest.mark.parametrize(
    ("path", "auth", "status", "code"),
    [("/sessions/ses_missing", True, 404, "not_found"), ("/me", False, 401, "unauthenticated")],
)
def test_problem_json_reaches_clients_as_plain_json(
    deployed: Any, path: str, auth: bool, status: int, code: str
) -> None:
    response = call(deployed, rest("GET", path, headers=bearer(deployed) if auth else None))
    assert response["statusCode"] == status
    assert response["isBase64Encoded"] is False
    assert response["headers"]["content-type"] == "application/problem+json"
    problem = json.loads(response["body"])
    assert problem["status"] == status and problem["code"] == code


def test_sse_is_text_and_a_quiet_stream_long_polls_until_an_event_arrives(deployed: Any) -> None:
    sid = _session(deployed)
    events = rest("GET", f"/sessions/{sid}/events", headers=bearer(deployed))
    first = call(deployed, events)
    assert first["statusCode"] == 200 and first["isBase64Encoded"] is False
    assert first["headers"]["content-type"].startswith("text/event-stream")
    assert "id: 1" in first["body"] and "session.created" in first["body"]

    quiet = rest("GET", f"/sessions/{sid}/events", headers={**bearer(deployed), "Last-Event-ID": "1"})
    started = time.monotonic()
    held = call(deployed, quiet)
    waited = time.monotonic() - started
    assert held["statusCode"] == 200 and "id:" not in held["body"] and "retry:" in held["body"]
    assert waited >= LONG_POLL_S - 0.1, f"a quiet stream answered after {waited:.2f}s instead of holding"

    # Another process (a step Lambda) appends while the request holds: it comes back with it, early.
    def later() -> None:
        time.sleep(0.4)
        asyncio.run(deployed.store.append_event(sid, "assistant.delta", {"text": "hi"}))

    writer = threading.Thread(target=later)
    writer.start()
    started = time.monotonic()
    woke = call(deployed, quiet)
    waited = time.monotonic() - started
    writer.join()
    assert "id: 2" in woke["body"] and "assistant.delta" in woke["body"]
    assert 0.35 <= waited < LONG_POLL_S - 1, waited


def test_an_explicit_poll_without_wait_answers_at_once(deployed: Any) -> None:
    sid = _session(deployed)
    poll = rest("GET", f"/sessions/{sid}/events", headers={**bearer(deployed), "Last-Event-ID": "1"}, mode="poll")
    assert call(deployed, rest("GET", "/health"))["statusCode"] == 200  # cold start done
    started = time.monotonic()
    assert call(deployed, poll)["statusCode"] == 200
    assert time.monotonic() - started < LONG_POLL_S / 2


# ---------------------------------------------------------------- authorizer: whose quota


def test_a_bearer_key_is_metered_under_its_orgs_gateway_key(deployed: Any) -> None:
    answer = call(deployed, authorizer_event(bearer(deployed)))
    assert answer["usageIdentifierKey"] == deployed.gateway.value
    assert answer["context"]["org_id"] == deployed.org_id
    (statement,) = answer["policyDocument"]["Statement"]
    assert statement["Effect"] == "Allow" and statement["Resource"].endswith("abc123/v1/*/*")
    attached = deployed.apigw.get_usage_plan_keys(usagePlanId=deployed.plan)["items"]
    assert [k["value"] for k in attached] == [answer["usageIdentifierKey"]]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer dexa_0000000000000000_" + "x" * 43}, {"Cookie": "dexa_token=nope"}],
    ids=["none", "unknown-key", "bad-cookie"],
)
def test_a_request_without_a_working_credential_is_unauthorized(deployed: Any, headers: dict[str, str]) -> None:
    with pytest.raises(Unauthorized, match=r"^Unauthorized$"):  # API Gateway turns exactly this into a 401
        call(deployed, authorizer_event(headers))


def test_each_org_is_metered_under_its_own_key(deployed: Any) -> None:
    from dexa.auth.provision import provision_org

    other = asyncio.run(
        provision_org(deployed.auth, ApiGatewayKeys(deployed.plan, client=deployed.apigw), org_name="globex",
                      admin_name="carol")
    )  # fmt: skip
    mine = call(deployed, authorizer_event(bearer(deployed)))["usageIdentifierKey"]
    theirs = call(deployed, authorizer_event({"Authorization": f"Bearer {other.token}"}))["usageIdentifierKey"]
    assert other.gateway_key is not None and theirs == other.gateway_key.value != mine


# ---------------------------------------------------------------- the browser


def test_browser_login_sets_a_secure_httponly_cookie_that_authorizes_and_guards_writes(deployed: Any) -> None:
    origin = {"Origin": f"https://{HOST}", "Content-Type": "application/json"}
    login = call(deployed, rest("POST", "/ui/login", headers=origin, body={"token": deployed.token}))
    assert login["statusCode"] == 204, login["body"]
    cookie = login["multiValueHeaders"].get("set-cookie", [login["headers"].get("set-cookie")])[0]
    attrs = {a.strip().lower() for a in cookie.split(";")}
    assert {"httponly", "secure", "samesite=strict", "path=/"} <= attrs
    jar = cookie.split(";", 1)[0]

    # API Gateway asks the authorizer first: the cookie alone picks the org's quota.
    answer = call(deployed, authorizer_event({"Cookie": f"theme=dark; {jar}"}))
    assert answer["usageIdentifierKey"] == deployed.gateway.value
    me = call(deployed, rest("GET", "/me", headers={"Cookie": jar}))
    assert me["statusCode"] == 200 and json.loads(me["body"])["org_id"] == deployed.org_id
    # A cookie-authenticated write from another site is refused (CSRF); from this origin it goes through.
    evil = {"Cookie": jar, "Origin": "https://evil.example", "Content-Type": "application/json"}
    refused = call(deployed, rest("POST", "/sessions", headers=evil, body={"prompt": "x"}))
    assert refused["statusCode"] == 403 and json.loads(refused["body"])["code"] == "forbidden"

    # The cookie is a session key of its own; signing out ends it, and the pasted key keeps working.
    assert jar != f"dexa_token={deployed.token}"
    out = call(deployed, rest("POST", "/ui/logout", headers={"Cookie": jar, "Origin": f"https://{HOST}"}))
    assert out["statusCode"] == 204
    assert call(deployed, rest("GET", "/me", headers={"Cookie": jar}))["statusCode"] == 401
    assert call(deployed, rest("GET", "/me", headers=bearer(deployed)))["statusCode"] == 200


def test_an_emailed_approval_link_opens_from_a_plain_get(deployed: Any) -> None:
    link = rest("GET", "/outputs/review", headers={}, token="signed.link.token")
    link["headers"] = {"Host": HOST}  # a mail client's click: no key, no cookie, no Origin
    link["multiValueHeaders"] = {"Host": [HOST]}
    landing = call(deployed, link)
    assert landing["statusCode"] == 307
    location = landing["headers"]["location"]
    # Inside the stage: `/ui/review` alone would leave `/v1` and API Gateway would answer 403.
    assert location.startswith("/v1/ui/review?") and "token=signed.link.token" in location
    page = call(deployed, rest("GET", "/ui/review", headers={}, token="signed.link.token"))
    assert page["statusCode"] == 200 and page["isBase64Encoded"] is False
    assert page["headers"]["content-type"].startswith("text/html") and "<html" in page["body"].lower()
    assert page["headers"]["referrer-policy"] == "no-referrer"


def test_an_org_without_a_gateway_key_gets_no_usage_key_so_api_gateway_refuses_it(deployed: Any) -> None:
    from dexa.auth.gateway import NoGatewayKeys
    from dexa.auth.provision import provision_org

    bare = asyncio.run(provision_org(deployed.auth, NoGatewayKeys(), org_name="legacy", admin_name="dan"))
    answer = call(deployed, authorizer_event({"Authorization": f"Bearer {bare.token}"}))
    assert answer["context"]["org_id"] == bare.org.id and "usageIdentifierKey" not in answer
