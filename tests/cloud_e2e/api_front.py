"""An API Gateway-shaped HTTP front: REST API proxy integration, as deployed in moto, served on 127.0.0.1.

    http://127.0.0.1:PORT/{stage}/{path}    ~  https://{api}.execute-api.{region}.amazonaws.com/{stage}/{path}

Routing, API keys and the Lambda integration come from the REST API provisioned in moto (from the template):
the resource tree picks the most specific resource (literal > {param} > {greedy+}), then the method (exact, else
ANY); a CUSTOM method calls its REQUEST Lambda authorizer (an "Unauthorized" failure is 401, a Deny 403, its
context reaches the integration as requestContext.authorizer); a method with apiKeyRequired accepts only an
enabled key in a usage plan for this API and stage, taken from x-api-key or, with apiKeySource AUTHORIZER, from
the authorizer's usageIdentifierKey (403 otherwise). Errors use the API's gateway responses when it defines them.
The request becomes a REST (v1) proxy event (its body base64 only when its Content-Type is in binaryMediaTypes,
else UTF-8 text); the function is invoked through moto's Lambda Invoke,
as API Gateway invokes it, with the 29 s integration timeout. A body the function marks isBase64Encoded is decoded
only when the request's Accept matches the API's binaryMediaTypes; otherwise the client gets the base64 text,
as on AWS. An integration with `responseTransferMode: STREAM` (its URI is Lambda's `response-streaming-invocations`
path; moto drops the mode itself) is invoked with response streaming, through the Lambda emulator directly (moto
has no InvokeWithResponseStream): the function's http-integration-response prelude (JSON, then 8 NUL bytes) gives
the status and headers, and the body reaches the client as the function writes it, up to STREAM_TIMEOUT.
Usage plans are metered per key, as API Gateway does: each request on a method with apiKeyRequired counts against
its key (`metered`, by key id: the usageIdentifierKey an authorizer chose), and the key's plan applies its throttle
(a token bucket of rateLimit/s holding burstLimit) and its quota (limit per period, counted from the front's start
or the key joining a plan): over them the client gets THROTTLED or QUOTA_EXCEEDED, 429. The stage's method
settings (as deployed: the template's MethodSettings, `*/*` or one resource and method) throttle each method of the
stage with a token bucket of its own, before the authorizer runs: THROTTLED, 429. Gateway errors carry
`x-amzn-RequestId` and `x-amzn-ErrorType`, as API Gateway's do. The stage's access log settings (format and
destination log group) are applied: one line per request, `$context` variables substituted, written to the
destination group in moto's CloudWatch Logs (`access_log`). Not emulated: account-level throttling, custom
domains, authorizers other than API keys.
"""

from __future__ import annotations

import base64
import contextlib
import fnmatch
import json
import queue
import re
import select
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .procs import QuietHTTPServer
from .provision import ACCOUNT, REGION

INTEGRATION_TIMEOUT = 29.0
STREAM_TIMEOUT = 15 * 60.0  # a streamed integration's limit (the stacks set it)
PRELUDE_END = b"\0" * 8


@dataclass
class Route:
    path: str  # the resource path template, e.g. /webhooks/{provider}
    parts: list[str]
    methods: dict[str, dict[str, Any]]  # HTTP method -> {"apiKeyRequired", "uri"}


@dataclass
class Meter:
    """One key's use of its usage plan: requests counted against the quota, and the throttle's token bucket."""

    plan_id: str
    quota: int | None  # requests per period; None: no quota
    rate: float | None  # tokens per second; None: no throttle
    burst: float
    used: int = 0
    tokens: float = 0.0
    at: float = field(default_factory=time.monotonic)

    def admit(self) -> str | None:
        """None when the request may pass (and is counted), else the gateway response type that refuses it."""
        if self.rate is not None:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
            self.at = now
            if self.tokens < 1:
                return "THROTTLED"
        if self.quota is not None and self.used >= self.quota:
            return "QUOTA_EXCEEDED"
        if self.rate is not None:
            self.tokens -= 1
        self.used += 1
        return None


# API Gateway's error type header for each gateway response type it answers with here.
ERROR_TYPES = {
    "THROTTLED": "TooManyRequestsException",
    "QUOTA_EXCEEDED": "LimitExceededException",
    "UNAUTHORIZED": "UnauthorizedException",
    "ACCESS_DENIED": "AccessDeniedException",
    "AUTHORIZER_FAILURE": "AuthorizerConfigurationException",
    "INVALID_API_KEY": "ForbiddenException",
    "MISSING_AUTHENTICATION_TOKEN": "MissingAuthenticationTokenException",
}


@dataclass
class Bucket:
    """A token bucket: `rate` tokens a second, holding at most `burst`; a request takes one."""

    rate: float
    burst: float
    tokens: float = -1.0
    at: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.burst

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class StageThrottle:
    """The stage's method throttling: each method (resource path and verb) has its own bucket, with the limits of
    its own method setting, else of the stage-wide `*/*` one; a method without either is not throttled."""

    def __init__(self, method_settings: dict[str, dict[str, Any]]) -> None:
        self.settings = method_settings
        self.buckets: dict[tuple[str, str], Bucket] = {}
        self.lock = threading.Lock()

    def _limits(self, resource: str, verb: str) -> tuple[float, float] | None:
        escaped = resource.replace("/", "~1")
        for key in (f"{escaped}/{verb}", f"{escaped}/*", "*/*"):
            setting = self.settings.get(key)
            if setting and setting.get("throttlingRateLimit") is not None:
                rate = float(setting["throttlingRateLimit"])
                return rate, float(setting.get("throttlingBurstLimit") or rate)
        return None

    def admit(self, resource: str, verb: str) -> bool:
        limits = self._limits(resource, verb)
        if limits is None:
            return True
        with self.lock:
            bucket = self.buckets.get((resource, verb))
            if bucket is None or (bucket.rate, bucket.burst) != limits:
                bucket = self.buckets[(resource, verb)] = Bucket(*limits)
            return bucket.take()


_CONTEXT_VAR = re.compile(r"\$context\.([A-Za-z0-9_.]+)")


class AccessLog:
    """The stage's access log: `format` with its `$context` variables substituted, one line per request, written
    to the destination log group (moto's CloudWatch Logs) by a background thread, as API Gateway delivers them
    a little after the request. A variable this front does not know fails at deploy time, naming it."""

    KNOWN = frozenset(
        {
            "requestId", "extendedRequestId", "requestTime", "requestTimeEpoch", "httpMethod", "resourcePath",
            "resourceId", "path", "status", "protocol", "responseLength", "responseLatency", "integrationLatency",
            "integrationStatus", "stage", "apiId", "domainName", "domainPrefix", "accountId",
            "identity.sourceIp", "identity.user", "identity.caller", "identity.userAgent", "identity.apiKey",
            "identity.apiKeyId", "identity.accountId", "error.message", "error.responseType",
            "authorizer.principalId", "authorizer.error",
        }
    )  # fmt: skip

    def __init__(self, logs_client: Any, destination_arn: str, fmt: str) -> None:
        unknown = sorted({v for v in _CONTEXT_VAR.findall(fmt) if v not in self.KNOWN})
        if unknown:
            raise ValueError(f"the stage's access log format uses $context variables the front cannot fill: {unknown}")
        self.format = fmt
        self.group = destination_arn.split(":log-group:", 1)[1].removesuffix(":*")
        self.stream = f"{uuid.uuid4().hex}"
        self.logs = logs_client
        self.pending: queue.Queue[tuple[int, str]] = queue.Queue()
        self.recorded = 0
        self.written = 0
        self._flushed = threading.Condition()
        self._created = False
        threading.Thread(target=self._writer, name="access-log", daemon=True).start()

    def line(self, context: dict[str, Any]) -> str:
        # API Gateway writes "-" for a variable without a value.
        return _CONTEXT_VAR.sub(
            lambda m: str(v) if (v := context.get(m.group(1))) not in (None, "") else "-", self.format
        )

    def record(self, context: dict[str, Any]) -> None:
        with self._flushed:
            self.recorded += 1
        self.pending.put((int(time.time() * 1000), self.line(context)))

    def _writer(self) -> None:
        while True:
            batch = [self.pending.get()]
            time.sleep(0.2)  # let a burst of requests share one PutLogEvents
            while not self.pending.empty() and len(batch) < 1000:
                batch.append(self.pending.get_nowait())
            try:
                if not self._created:
                    self.logs.create_log_stream(logGroupName=self.group, logStreamName=self.stream)
                    self._created = True
                events = [{"timestamp": at, "message": text} for at, text in batch]
                self.logs.put_log_events(logGroupName=self.group, logStreamName=self.stream, logEvents=events)
            except Exception as exc:  # a line lost is reported, never raised into a request
                print(f"api_front: access log write failed: {type(exc).__name__}: {exc}", flush=True)
            with self._flushed:
                self.written += len(batch)
                self._flushed.notify_all()

    def flush(self, timeout: float = 30) -> None:
        """Wait until every line recorded so far has been written."""
        with self._flushed:
            target = self.recorded
            self._flushed.wait_for(lambda: self.written >= target, timeout)


class ApiFront:
    def __init__(
        self,
        *,
        apigw: Any,
        lambda_client: Any,
        api_id: str,
        stage: str,
        binary_types: list[str] | None = None,
        lambda_url: str | None = None,
        logs_client: Any = None,
    ) -> None:
        self.lambda_url = lambda_url  # the Lambda service's invoke endpoint (the emulator), for streamed integrations
        # moto drops binaryMediaTypes on CreateRestApi (and mangles them on UpdateRestApi): the harness passes the
        # template's list instead.
        self._binary_override = binary_types
        self.apigw = apigw
        self.lambda_client = lambda_client
        self.logs_client = logs_client
        self.access_log: AccessLog | None = None
        self.throttle: StageThrottle | None = None
        self.api_id = api_id
        self.stage = stage
        self.requests = 0
        self.metered: Counter[str] = Counter()  # key id -> requests API Gateway counted against that key
        self.meters: dict[str, Meter] = {}
        self._meter_lock = threading.Lock()
        self.refresh()
        self.server = QuietHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/{stage}"

    def refresh(self) -> None:
        """Read routes, binary types and keys from moto (after a deploy)."""
        api = self.apigw.get_rest_api(restApiId=self.api_id)
        self.binary_types: list[str] = (
            self._binary_override if self._binary_override is not None else api.get("binaryMediaTypes", [])
        )
        self.key_source = api.get("apiKeySource", "HEADER")
        self.authorizers = {a["id"]: a for a in self.apigw.get_authorizers(restApiId=self.api_id)["items"]}
        self.gateway_responses = {
            r["responseType"]: r for r in self.apigw.get_gateway_responses(restApiId=self.api_id)["items"]
        }
        stage = self.apigw.get_stage(restApiId=self.api_id, stageName=self.stage)
        if self.throttle is None:
            self.throttle = StageThrottle(stage.get("methodSettings") or {})
        else:  # the buckets stay; one whose limits changed starts over
            self.throttle.settings = stage.get("methodSettings") or {}
        access = stage.get("accessLogSettings") or {}
        if access.get("destinationArn") and access.get("format") and self.logs_client is not None:
            same = self.access_log is not None and (self.access_log.format, self.access_log.group) == (
                access["format"],
                access["destinationArn"].split(":log-group:", 1)[1].removesuffix(":*"),
            )
            if not same:
                self.access_log = AccessLog(self.logs_client, access["destinationArn"], access["format"])
        else:
            self.access_log = None
        self.routes: list[Route] = []
        for res in self.apigw.get_resources(restApiId=self.api_id, embed=["methods"])["items"]:
            methods: dict[str, dict[str, Any]] = {}
            for verb in res.get("resourceMethods", {}):
                method = self.apigw.get_method(restApiId=self.api_id, resourceId=res["id"], httpMethod=verb)
                integration = method.get("methodIntegration", {})
                methods[verb] = {
                    "apiKeyRequired": bool(method.get("apiKeyRequired")),
                    "uri": integration.get("uri", ""),
                    "authorizerId": method.get("authorizerId") if method.get("authorizationType") == "CUSTOM" else None,
                }
            parts = [p for p in res["path"].split("/") if p]
            self.routes.append(Route(path=res["path"], parts=parts, methods=methods))
        self.keys: dict[str, str] = {}  # value -> key id, for enabled keys in a plan covering this stage
        plans = self.apigw.get_usage_plans()["items"]
        for plan in plans:
            if not any(s["apiId"] == self.api_id and s["stage"] == self.stage for s in plan.get("apiStages", [])):
                continue
            for planned in self.apigw.get_usage_plan_keys(usagePlanId=plan["id"])["items"]:
                key = self.apigw.get_api_key(apiKey=planned["id"], includeValue=True)
                if key.get("enabled"):
                    self.keys[key["value"]] = key["id"]
                    self._plan_meter(key["id"], plan)

    def _plan_meter(self, key_id: str, plan: dict[str, Any]) -> None:
        """The key's meter under `plan`: kept across refreshes while the key stays in the same plan."""
        quota = plan.get("quota") or {}
        throttle = plan.get("throttle") or {}
        rate = throttle.get("rateLimit")
        burst = float(throttle.get("burstLimit") or rate or 1)
        with self._meter_lock:
            old = self.meters.get(key_id)
            if old is not None and old.plan_id == plan["id"]:
                old.quota = int(quota["limit"]) if quota.get("limit") is not None else None
                old.rate, old.burst = (float(rate) if rate is not None else None), burst
                return
            self.meters[key_id] = Meter(
                plan_id=plan["id"],
                quota=int(quota["limit"]) if quota.get("limit") is not None else None,
                rate=float(rate) if rate is not None else None,
                burst=burst,
                tokens=burst,
            )

    def admit(self, key_id: str) -> str | None:
        """Count one request against the key's plan; the refusing gateway response type, or None."""
        with self._meter_lock:
            meter = self.meters.get(key_id)
            refused = meter.admit() if meter is not None else None
            if refused is None:
                self.metered[key_id] += 1
            return refused

    def match(self, path: str) -> tuple[Route, dict[str, str]] | None:
        segments = [unquote(s) for s in path.split("/") if s]
        best: tuple[tuple[int, int], Route, dict[str, str]] | None = None
        for route in self.routes:
            params = _match(route.parts, segments)
            if params is None:
                continue
            literal = sum(1 for p in route.parts if not p.startswith("{"))
            greedy = any(p.endswith("+}") for p in route.parts)
            rank = (0 if greedy else 1, literal)
            if best is None or rank > best[0]:
                best = (rank, route, params)
        return None if best is None else (best[1], best[2])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self.access_log is not None:
            self.access_log.flush(timeout=5)  # before moto goes: the last lines are written, not lost noisily


def on_hangup(conn: socket.socket, then: Callable[[], Any]) -> None:
    """Call `then` once the peer of `conn` closes it (a background watcher; it stops when `conn` is closed)."""

    def watch() -> None:
        try:
            while True:
                readable, _, _ = select.select([conn], [], [], 1.0)
                if readable and not conn.recv(1, socket.MSG_PEEK):
                    break
                if readable:
                    time.sleep(0.2)  # the peer sent something (a next request): keep watching
        except (OSError, ValueError):
            pass
        with contextlib.suppress(OSError):
            then()

    threading.Thread(target=watch, daemon=True).start()


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _match(parts: list[str], segments: list[str]) -> dict[str, str] | None:
    params: dict[str, str] = {}
    for i, part in enumerate(parts):
        if part.endswith("+}"):
            if i >= len(segments):
                return None
            params[part[1:-2]] = "/".join(segments[i:])
            return params
        if i >= len(segments):
            return None
        if part.startswith("{"):
            params[part[1:-1]] = segments[i]
        elif part != segments[i]:
            return None
    return params if len(parts) == len(segments) else None


def _handler(front: ApiFront) -> type[BaseHTTPRequestHandler]:  # noqa: C901 - one class of small methods
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.handle_any()

        def do_POST(self) -> None:
            self.handle_any()

        def do_PUT(self) -> None:
            self.handle_any()

        def do_PATCH(self) -> None:
            self.handle_any()

        def do_DELETE(self) -> None:
            self.handle_any()

        def do_OPTIONS(self) -> None:
            self.handle_any()

        def do_HEAD(self) -> None:
            self.handle_any()

        def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(payload).encode(), {"content-type": "application/json", **(headers or {})})

        def _gateway_error(self, response_type: str, status: int, message: str) -> None:
            self.log_context["error.responseType"] = response_type
            self.log_context["error.message"] = message
            # API Gateway names the request and the error on every response it makes itself.
            ids = {"x-amzn-RequestId": self.log_context["requestId"]}
            if response_type in ERROR_TYPES:
                ids["x-amzn-ErrorType"] = ERROR_TYPES[response_type]
            custom = front.gateway_responses.get(response_type)
            if custom is None or not custom.get("responseTemplates"):
                self._json(status, {"message": message}, ids)
                return
            headers = {
                k.rsplit(".", 1)[-1]: v.strip("'")
                for k, v in (custom.get("responseParameters") or {}).items()
                if k.startswith("gatewayresponse.header.")
            }
            template = next(iter(custom["responseTemplates"].values()))
            self._send(int(custom.get("statusCode") or status), template.encode(), {**headers, **ids})

        def _authorize(self, method: dict[str, Any], event: dict[str, Any]) -> dict[str, Any] | None:
            """The authorizer's answer, or None after sending the error response."""
            authorizer = front.authorizers[method["authorizerId"]]
            request = {
                "type": "REQUEST",
                "methodArn": (
                    f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{front.api_id}/{front.stage}/{self.command}{event['path']}"
                ),
                **{k: event[k] for k in ("resource", "path", "httpMethod", "headers", "multiValueHeaders")},
                **{k: event[k] for k in ("queryStringParameters", "multiValueQueryStringParameters")},
                "pathParameters": event["pathParameters"],
                "stageVariables": None,
                "requestContext": event["requestContext"],
            }
            function = authorizer["authorizerUri"].split("/functions/", 1)[1].rsplit("/invocations", 1)[0]
            result = front.lambda_client.invoke(FunctionName=function, Payload=json.dumps(request).encode())
            payload = json.loads(result["Payload"].read() or b"null")
            if result.get("FunctionError"):
                if isinstance(payload, dict) and payload.get("errorMessage") == "Unauthorized":
                    self._gateway_error("UNAUTHORIZED", 401, "Unauthorized")
                else:
                    self._gateway_error("AUTHORIZER_FAILURE", 500, "Internal server error")
                return None
            statements = (payload.get("policyDocument") or {}).get("Statement") or []
            allowed = any(
                st.get("Effect") == "Allow"
                and any(fnmatch.fnmatchcase(request["methodArn"], r) for r in _as_list(st.get("Resource")))
                for st in statements
            )
            denied = any(
                st.get("Effect") == "Deny"
                and any(fnmatch.fnmatchcase(request["methodArn"], r) for r in _as_list(st.get("Resource")))
                for st in statements
            )
            if denied or not allowed:
                self._gateway_error(
                    "ACCESS_DENIED", 403, "User is not authorized to access this resource with an explicit deny"
                )
                return None
            return payload

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.log_context["status"] = status
            self.log_context["responseLength"] = len(body)
            self.send_response(status)
            for key, value in headers.items():
                if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(key, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def handle_any(self) -> None:
            front.requests += 1
            started = time.time()
            request_id = str(uuid.uuid4())
            self.log_context: dict[str, Any] = {
                "requestId": request_id,
                "extendedRequestId": request_id,
                "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(started)),
                "requestTimeEpoch": int(started * 1000),
                "httpMethod": self.command,
                "protocol": self.request_version,
                "stage": front.stage,
                "apiId": front.api_id,
                "accountId": ACCOUNT,
                "domainPrefix": front.api_id,
                "domainName": f"{front.api_id}.execute-api.{REGION}.amazonaws.com",
                "identity.sourceIp": self.client_address[0],
                "identity.userAgent": self.headers.get("user-agent"),
            }
            url = urlsplit(self.path)
            prefix = f"/{front.stage}"
            if not (url.path == prefix or url.path.startswith(prefix + "/")):
                self._json(403, {"message": "Forbidden"})
                return  # outside any stage: no stage logs it
            try:
                self._handle_in_stage(url, started, request_id)
            finally:
                self.log_context["responseLatency"] = int((time.time() - started) * 1000)
                if front.access_log is not None:
                    front.access_log.record(self.log_context)

        def _handle_in_stage(self, url: Any, started: float, request_id: str) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            path = url.path[len(f"/{front.stage}") :] or "/"
            self.log_context["path"] = url.path
            found = front.match(path)
            route, params = found if found is not None else (None, {})
            method = None if route is None else route.methods.get(self.command) or route.methods.get("ANY")
            if route is None or method is None:
                # API Gateway's answer to an unknown route or method.
                self._gateway_error("MISSING_AUTHENTICATION_TOKEN", 403, "Missing Authentication Token")
                return
            self.log_context["resourcePath"] = self.log_context["resourceId"] = route.path
            # The stage's method throttling comes first: a refused request reaches no authorizer.
            if front.throttle is not None and not front.throttle.admit(route.path, self.command):
                self._gateway_error("THROTTLED", 429, "Too Many Requests")
                return
            event = self._event(route, params, path, url.query, body, request_id, None, None, started)
            api_key = self.headers.get("x-api-key")
            if method.get("authorizerId"):
                answer = self._authorize(method, event)
                if answer is None:
                    return
                event["requestContext"]["authorizer"] = {
                    "principalId": answer.get("principalId"),
                    **(answer.get("context") or {}),
                }
                self.log_context["authorizer.principalId"] = answer.get("principalId")
                if front.key_source == "AUTHORIZER":
                    api_key = answer.get("usageIdentifierKey")
            key_id = front.keys.get(api_key or "")
            if method["apiKeyRequired"] and key_id is None:
                self._gateway_error("INVALID_API_KEY", 403, "Forbidden")
                return
            if method["apiKeyRequired"] and key_id is not None:
                refused = front.admit(key_id)
                if refused is not None:
                    message = "Limit Exceeded" if refused == "QUOTA_EXCEEDED" else "Too Many Requests"
                    self._gateway_error(refused, 429, message)
                    return
            event["requestContext"]["identity"]["apiKey"] = api_key if key_id else None
            event["requestContext"]["identity"]["apiKeyId"] = key_id
            self.log_context["identity.apiKey"] = api_key if key_id else None
            self.log_context["identity.apiKeyId"] = key_id
            function = method["uri"].split("/functions/", 1)[1].rsplit("/invocations", 1)[0]
            if method["uri"].endswith("/response-streaming-invocations"):
                self._stream(function.rsplit("/", 1)[0].split(":")[6], event, request_id)
                return
            called = time.time()
            try:
                result = front.lambda_client.invoke(FunctionName=function, Payload=json.dumps(event).encode())
            except Exception as exc:  # the read timeout: API Gateway gives up after 29 s
                if "timed out" in str(exc).lower() or "read timeout" in str(exc).lower():
                    self._json(504, {"message": "Endpoint request timed out"})
                else:
                    self._json(500, {"message": f"front: {type(exc).__name__}: {exc}"})
                return
            payload = result["Payload"].read()
            self.log_context["integrationLatency"] = int((time.time() - called) * 1000)
            self.log_context["integrationStatus"] = result.get("StatusCode")
            if result.get("FunctionError"):
                self._json(
                    502, {"message": "Internal server error"}, {"x-amzn-ErrorType": "InternalServerErrorException"}
                )
                return
            try:
                response = json.loads(payload)
                status = int(response["statusCode"])
            except (ValueError, KeyError, TypeError):
                self._json(502, {"message": "Internal server error"})
                return
            headers = {k: str(v) for k, v in (response.get("headers") or {}).items()}
            for key, values in (response.get("multiValueHeaders") or {}).items():
                headers[key] = ", ".join(str(v) for v in values)
            headers["x-amzn-RequestId"] = request_id
            text = response.get("body") or ""
            if response.get("isBase64Encoded") and self._binary_accepted():
                data = base64.b64decode(text)
            else:
                data = text.encode()
            self._send(status, data, headers)

        def _stream(self, function: str, event: dict[str, Any], request_id: str) -> None:
            """A STREAM integration: relay the function's response as it is written (chunked to the client)."""
            import http.client

            if front.lambda_url is None:
                self._json(500, {"message": "front: no Lambda endpoint for a streamed integration"})
                return
            upstream = http.client.HTTPConnection(urlsplit(front.lambda_url).netloc, timeout=STREAM_TIMEOUT)
            try:
                upstream.request(
                    "POST",
                    f"/2021-11-15/functions/{function}/response-streaming-invocations",
                    body=json.dumps(event).encode(),
                    headers={"content-type": "application/json"},
                )
                response = upstream.getresponse()
                if response.getheader("X-Amz-Function-Error") or response.status != 200:
                    response.read()
                    self._json(
                        502, {"message": "Internal server error"}, {"x-amzn-ErrorType": "InternalServerErrorException"}
                    )
                    return
                buffered = b""
                while PRELUDE_END not in buffered:
                    data = response.read1(65536)
                    if not data:
                        self._json(502, {"message": "Internal server error"})
                        return
                    buffered += data
                head, _, rest = buffered.partition(PRELUDE_END)
                prelude = json.loads(head)
                self.log_context["status"] = int(prelude.get("statusCode", 200))
                self.log_context["responseLength"] = 0
                self.send_response(int(prelude.get("statusCode", 200)))
                for key, value in (prelude.get("headers") or {}).items():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(key, str(value))
                for cookie in prelude.get("cookies") or []:
                    self.send_header("set-cookie", cookie)
                self.send_header("x-amzn-RequestId", request_id)
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                # A client that hangs up ends the integration at once (not at the stream's next write).
                on_hangup(self.connection, lambda: upstream.sock and upstream.sock.shutdown(socket.SHUT_RDWR))
                while True:
                    if rest:
                        self.wfile.write(f"{len(rest):x}\r\n".encode() + rest + b"\r\n")
                        self.wfile.flush()
                        self.log_context["responseLength"] += len(rest)
                    rest = response.read1(65536)
                    if not rest:
                        break
                self.wfile.write(b"0\r\n\r\n")
            except OSError:  # the client hung up (or the function's stream broke): drop both ends
                self.close_connection = True
            finally:
                upstream.close()

        def _binary_accepted(self) -> bool:
            accept = (self.headers.get("accept") or "").split(",")[0].split(";")[0].strip()
            return any(fnmatch.fnmatch(accept, pattern) for pattern in front.binary_types) if accept else False

        def _event(
            self,
            route: Route,
            params: dict[str, str],
            path: str,
            query: str,
            body: bytes,
            request_id: str,
            api_key: str | None,
            key_id: str | None,
            started: float,
        ) -> dict[str, Any]:
            host = f"{front.api_id}.execute-api.{REGION}.amazonaws.com"
            multi: dict[str, list[str]] = {}
            for key, value in self.headers.items():
                if key.lower() == "host":
                    continue
                multi.setdefault(key, []).append(value)
            multi["Host"] = [host]
            multi.setdefault("X-Forwarded-Proto", ["https"])
            multi.setdefault("X-Forwarded-Port", ["443"])
            multi.setdefault("X-Forwarded-For", [self.client_address[0]])
            qs = parse_qs(query, keep_blank_values=True)
            # As API Gateway does: base64 only for a Content-Type in binaryMediaTypes; any other body is passed as
            # UTF-8 text, so a binary body the API did not declare arrives mangled, as it would on AWS.
            content_type = (self.headers.get("content-type") or "").split(";")[0].strip()
            if any(fnmatch.fnmatch(content_type, pattern) for pattern in front.binary_types):
                text, is_b64 = base64.b64encode(body).decode(), True
            else:
                text, is_b64 = body.decode(errors="replace"), False
            return {
                "resource": route.path,
                "path": path,
                "httpMethod": self.command,
                "headers": {k: v[-1] for k, v in multi.items()},
                "multiValueHeaders": multi,
                "queryStringParameters": {k: v[-1] for k, v in qs.items()} or None,
                "multiValueQueryStringParameters": qs or None,
                "pathParameters": params or None,
                "stageVariables": None,
                "requestContext": {
                    "resourceId": route.path,
                    "resourcePath": route.path,
                    "httpMethod": self.command,
                    "extendedRequestId": request_id,
                    "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(started)),
                    "path": f"/{front.stage}{path}",
                    "accountId": ACCOUNT,
                    "protocol": "HTTP/1.1",
                    "stage": front.stage,
                    "domainPrefix": front.api_id,
                    "requestTimeEpoch": int(started * 1000),
                    "requestId": request_id,
                    "identity": {
                        "sourceIp": self.client_address[0],
                        "userAgent": self.headers.get("user-agent"),
                        "apiKey": api_key if key_id else None,
                        "apiKeyId": key_id,
                    },
                    "domainName": host,
                    "apiId": front.api_id,
                },
                "body": text if body else None,
                "isBase64Encoded": is_b64,
            }

    return Handler
