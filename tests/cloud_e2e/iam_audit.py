"""Each emulated function's AWS calls, checked against its own execution role's policies (as deployed in moto).

Why not moto's IAM enforcement (INITIAL_NO_AUTH_ACTION_COUNT + STS credentials per role): moto authorizes most
services' requests against the resource "*" (only S3, SQS, IAM and STS name the resource they touch), so every
statement scoped to a table, secret or state machine ARN, which is all of this stack's, would be refused, and a
too-wide grant could never be told from a right one. It would also refuse the operator's own calls (the harness is
no IAM user). So the check is done here, per request, with resources: every function gets an access key of its own
(`function_key`), its SDK reaches moto through a recording proxy, and each recorded request is mapped to the IAM
action(s) and resource ARN(s) AWS would authorize it as, then evaluated against the statements of the role the
function runs with (explicit Deny wins, then any Allow; conditions are reported, not evaluated).

What this does not see: calls made by the services themselves (Step Functions invoking the step function, the
scheduler's role), and resource policies (a bucket policy's Deny is enforced by moto itself).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from . import lambda_emulator
from .procs import QuietHTTPServer

if TYPE_CHECKING:
    from .harness import Cloud

_SCOPE = re.compile(r"Credential=([^/]+)/\d+/([^/]+)/([^/]+)/")
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


def function_key(name: str) -> str:
    """The access key id the function `name` signs its calls with (a Lambda's role session: ASIA...)."""
    return "ASIA" + hashlib.sha256(name.encode()).hexdigest()[:16].upper()


@dataclass
class Call:
    key: str
    region: str
    service: str
    method: str
    path: str
    query: str
    target: str
    headers: dict[str, str]
    body: bytes


@dataclass
class AuditProxy:
    """A reverse proxy in front of moto that records each signed request, then forwards it unchanged."""

    upstream: str
    calls: list[Call] = field(default_factory=list[Call])
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        proxy = self
        netloc = urlsplit(self.upstream).netloc

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *a: Any) -> None:
                pass

            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                scope = _SCOPE.search(self.headers.get("authorization", ""))
                if scope:
                    url = urlsplit(self.path)
                    with proxy.lock:
                        proxy.calls.append(
                            Call(
                                key=scope.group(1),
                                region=scope.group(2),
                                service=scope.group(3),
                                method=self.command,
                                path=unquote(url.path),
                                query=url.query,
                                target=self.headers.get("x-amz-target", ""),
                                headers={k.lower(): v for k, v in self.headers.items()},
                                body=body,
                            )
                        )
                upstream = http.client.HTTPConnection(netloc, timeout=900)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                headers["host"] = netloc
                upstream.request(self.command, self.path, body=body or None, headers=headers)
                response = upstream.getresponse()
                data = response.read()
                self.send_response(response.status)
                for k, v in response.getheaders():
                    if k.lower() not in _HOP:
                        self.send_header(k, v)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                upstream.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _any

        self.server = QuietHTTPServer(("127.0.0.1", 0), Handler)  # a recycled container drops its connections
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def audited(cloud: Cloud) -> Iterator[AuditProxy]:
    """While inside: every container started (warm ones are recycled first) signs with its function's own key and
    reaches moto through the recording proxy. Restored, and recycled again, on the way out."""
    proxy = AuditProxy(cloud.moto.url)
    original = lambda_emulator.Container._env  # pyright: ignore[reportPrivateUsage]

    def env(self: Any) -> dict[str, str]:
        out = original(self)
        out["AWS_ACCESS_KEY_ID"] = function_key(self.config.name)
        out["AWS_ENDPOINT_URL"] = proxy.url
        return out

    lambda_emulator.Container._env = env  # type: ignore[method-assign]
    cloud.emulator.recycle()
    try:
        yield proxy
    finally:
        lambda_emulator.Container._env = original  # type: ignore[method-assign]
        cloud.emulator.recycle()
        proxy.close()


# -- what AWS authorizes a request as ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Need:
    """One authorization a request needs: the action on any one of `resources` (alternatives), or on "*"."""

    action: str
    resources: tuple[str, ...]
    what: str  # the request, for the report


class Resolver:
    """Maps recorded requests to IAM actions and resource ARNs; names are turned into ARNs through the operator's
    view of the account (secrets, keys)."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.account = cloud.client("sts").get_caller_identity()["Account"]
        self._secrets: dict[str, str] = {}
        self._keys: dict[str, str] = {}

    def secret_arn(self, secret_id: str, region: str) -> str:
        if secret_id.startswith("arn:"):
            return secret_id
        if secret_id not in self._secrets:
            sm = self.cloud.client("secretsmanager")
            self._secrets[secret_id] = sm.describe_secret(SecretId=secret_id)["ARN"]
        return self._secrets[secret_id]

    def key_arn(self, key_id: str) -> str:
        if key_id.startswith("arn:") and ":alias/" not in key_id:
            return key_id
        if key_id not in self._keys:
            self._keys[key_id] = self.cloud.client("kms").describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
        return self._keys[key_id]

    def needs(self, call: Call) -> list[Need]:
        """The authorizations AWS would check for `call` (none for STS: nothing here assumes a role)."""
        req = _Req.of(call, self.account)
        if call.service == "sts":
            return []
        handler = getattr(self, f"_{call.service}", None)
        out = handler(req) if handler is not None else None
        if out is not None:
            return out
        if req.op:
            return [req.need(f"{call.service}:{req.op}")]
        return [req.need(f"{call.service}:?")]  # unmapped: reported as such

    def _dynamodb(self, req: _Req) -> list[Need]:
        def table(t: str) -> str:
            return t if t.startswith("arn:") else f"arn:aws:dynamodb:{req.region}:{req.account}:table/{t}"

        if req.op in ("TransactWriteItems", "TransactGetItems"):
            kinds = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "Get": "GetItem"}
            kinds["ConditionCheck"] = "ConditionCheckItem"
            return [
                req.need(f"dynamodb:{kinds.get(kind, kind)}", table(body["TableName"]))
                for item in req.doc.get("TransactItems", [])
                for kind, body in item.items()
            ]
        if req.op in ("BatchWriteItem", "BatchGetItem"):
            return [req.need(f"dynamodb:{req.op}", table(t)) for t in req.doc.get("RequestItems", {})]
        arn = table(req.doc.get("TableName", "*"))
        if req.doc.get("IndexName"):
            arn += f"/index/{req.doc['IndexName']}"
        return [req.need(f"dynamodb:{req.op}", arn)]

    def _secretsmanager(self, req: _Req) -> list[Need]:
        secret = req.doc.get("SecretId")
        return [req.need(f"secretsmanager:{req.op}", *([self.secret_arn(secret, req.region)] if secret else []))]

    def _states(self, req: _Req) -> list[Need]:
        arn = req.doc.get("executionArn") or req.doc.get("stateMachineArn")
        return [req.need(f"states:{req.op}", *([arn] if arn else []))]

    def _kms(self, req: _Req) -> list[Need]:
        key = req.doc.get("KeyId")
        return [req.need(f"kms:{req.op}", *([self.key_arn(key)] if key else []))]

    def _ssm(self, req: _Req) -> list[Need]:
        names = req.doc.get("Names") or ([req.doc["Name"]] if "Name" in req.doc else [])
        arns = [f"arn:aws:ssm:{req.region}:{req.account}:parameter/{n.lstrip('/')}" for n in names]
        return [req.need(f"ssm:{req.op}", arn) for arn in arns] or [req.need(f"ssm:{req.op}")]

    def _events(self, req: _Req) -> list[Need]:
        buses = {e.get("EventBusName", "default") for e in req.doc.get("Entries", [])} or {"default"}
        prefix = f"arn:aws:events:{req.region}:{req.account}:event-bus/"
        return [req.need(f"events:{req.op}", b if b.startswith("arn:") else prefix + b) for b in buses]

    def _sqs(self, req: _Req) -> list[Need]:
        url = req.doc.get("QueueUrl") or req.form.get("QueueUrl", "")
        name = url.rsplit("/", 1)[-1]
        return [req.need(f"sqs:{req.op}", *([f"arn:aws:sqs:{req.region}:{req.account}:{name}"] if url else []))]

    def _ses(self, req: _Req) -> list[Need]:
        op, source = req.op, req.form.get("Source", "")
        if req.call.path.startswith("/v2/email/outbound-emails"):
            op, source = "SendEmail", str(req.doc.get("FromEmailAddress", ""))
        address = source.rsplit("<", 1)[-1].rstrip(">").strip()
        if not address:
            return [req.need(f"ses:{op}")]
        prefix = f"arn:aws:ses:{req.region}:{req.account}:identity/"
        return [req.need(f"ses:{op}", prefix + address, prefix + address.split("@")[-1])]

    def _lambda(self, req: _Req) -> list[Need] | None:
        m = re.match(r"^/[\d-]+/functions/([^/]+)(/.*)?$", req.call.path)
        if m is None:
            return None
        fn = m.group(1)
        arn = fn if fn.startswith("arn:") else f"arn:aws:lambda:{req.region}:{req.account}:function:{fn}"
        action = "InvokeFunction" if (m.group(2) or "").startswith("/invocations") else "GetFunction"
        return [req.need(f"lambda:{action}", arn)]

    def _scheduler(self, req: _Req) -> list[Need] | None:
        m = re.match(r"^/schedules/([^/]+)$", req.call.path)
        if m is None:
            return None
        group = req.doc.get("GroupName") or req.form.get("groupName") or "default"
        verb = {"POST": "CreateSchedule", "PUT": "UpdateSchedule", "DELETE": "DeleteSchedule"}
        arn = f"arn:aws:scheduler:{req.region}:{req.account}:schedule/{group}/{m.group(1)}"
        out = [req.need(f"scheduler:{verb.get(req.call.method, 'GetSchedule')}", arn)]
        role = (req.doc.get("Target") or {}).get("RoleArn")
        if role:  # handing the schedule a role to act as is the caller's own iam:PassRole
            out.append(Need("iam:PassRole", (role,), req.what + " (Target.RoleArn)"))
        return out

    def _apigateway(self, req: _Req) -> list[Need]:
        return [req.need(f"apigateway:{req.call.method}", f"arn:aws:apigateway:{req.region}::{req.call.path}")]

    def _s3(self, req: _Req) -> list[Need]:
        call, need = req.call, req.need
        bucket, _, key = call.path.lstrip("/").partition("/")
        obj = f"arn:aws:s3:::{bucket}/{key}"
        if not key:
            if call.method in ("GET", "HEAD"):
                return [need("s3:ListBucket", f"arn:aws:s3:::{bucket}")]
            if call.method == "POST" and "delete" in req.form:
                return [need("s3:DeleteObject", f"arn:aws:s3:::{bucket}/*")]
            return [need(f"s3:{call.method}Bucket", f"arn:aws:s3:::{bucket}")]
        if call.method in ("GET", "HEAD"):
            return [need("s3:GetObject", obj)]
        if call.method == "DELETE":
            return [need("s3:DeleteObject", obj)]
        out = [need("s3:PutObject", obj)]
        source = call.headers.get("x-amz-copy-source")
        if source:
            out.append(need("s3:GetObject", f"arn:aws:s3:::{unquote(source).lstrip('/')}"))
        return out


@dataclass
class _Req:
    """A recorded request, parsed: its JSON body, its form or query fields, and its operation name."""

    call: Call
    account: str
    doc: dict[str, Any]
    form: dict[str, str]
    op: str

    @classmethod
    def of(cls, call: Call, account: str) -> _Req:
        doc: Any = {}
        content_type = call.headers.get("content-type", "")
        if call.body and (call.target or content_type.startswith("application/json")):
            try:
                doc = json.loads(call.body)
            except ValueError:
                doc = {}
        form = {k: v[0] for k, v in parse_qs(call.query).items()}
        if content_type.startswith("application/x-www-form-urlencoded"):
            form.update({k: v[0] for k, v in parse_qs(call.body.decode(errors="replace")).items()})
        op = call.target.rsplit(".", 1)[-1] if call.target else form.get("Action", "")
        return cls(call, account, doc if isinstance(doc, dict) else {}, form, op)

    @property
    def region(self) -> str:
        return self.call.region

    @property
    def what(self) -> str:
        return f"{self.call.service}:{self.op or self.call.method + ' ' + self.call.path}"

    def need(self, action: str, *resources: str) -> Need:
        return Need(action, tuple(resources) or ("*",), self.what)


# -- policy evaluation ------------------------------------------------------------------------------------------------


def _glob(pattern: str, value: str, *, fold: bool = False) -> bool:
    regex = "^" + ".*".join(".".join(re.escape(p) for p in part.split("?")) for part in pattern.split("*")) + "$"
    return re.match(regex, value, re.IGNORECASE if fold else 0) is not None


def _list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _matches(statement: dict[str, Any], action: str, resource: str) -> bool:
    if "Action" in statement:
        acted = any(_glob(p, action, fold=True) for p in _list(statement["Action"]))
    else:
        acted = not any(_glob(p, action, fold=True) for p in _list(statement.get("NotAction", [])))
    if not acted:
        return False
    if resource == "*":
        return True  # an action without resource-level permissions: any statement for it applies
    if "Resource" in statement:
        return any(_glob(p, resource) for p in _list(statement["Resource"]))
    return not any(_glob(p, resource) for p in _list(statement.get("NotResource", [])))


def decide(statements: list[dict[str, Any]], need: Need) -> str:
    """ "allowed", "denied" (an explicit Deny) or "implicit" (no Allow) for one need."""
    allowed = False
    for resource in need.resources:
        matching = [s for s in statements if _matches(s, need.action, resource)]
        if any(s.get("Effect") == "Deny" and not s.get("Condition") for s in matching):
            return "denied"
        allowed = allowed or any(s.get("Effect") == "Allow" for s in matching)
    return "allowed" if allowed else "implicit"


def role_statements(cloud: Cloud, role_arn: str) -> list[dict[str, Any]]:
    """Every statement of the role's inline and attached policies, as deployed (intrinsics resolved)."""
    iam = cloud.client("iam")
    name = role_arn.rsplit("/", 1)[-1]
    docs: list[Any] = []
    for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        docs.append(iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"])
    for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
        meta = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
        version = iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=meta["DefaultVersionId"])
        docs.append(version["PolicyVersion"]["Document"])
    statements: list[dict[str, Any]] = []
    for doc in docs:
        doc = json.loads(doc) if isinstance(doc, str) else doc
        body = doc.get("Statement", [])
        statements += body if isinstance(body, list) else [body]
    return statements


@dataclass
class Finding:
    function: str
    need: Need
    verdict: str


def audit(cloud: Cloud, calls: list[Call]) -> tuple[list[Finding], dict[str, set[str]]]:
    """(every need a function's role does not allow, {function: the actions it was seen using})."""
    lam = cloud.client("lambda")
    by_key = {function_key(name): name for name in cloud.deployment.function_code}
    resolver = Resolver(cloud)
    statements: dict[str, list[dict[str, Any]]] = {}
    findings: list[Finding] = []
    used: dict[str, set[str]] = {}
    seen: set[tuple[str, str, tuple[str, ...]]] = set()
    for call in calls:
        function = by_key.get(call.key)
        if function is None:
            continue  # the operator's or a service's own call
        if function not in statements:
            role = lam.get_function(FunctionName=function)["Configuration"]["Role"]
            statements[function] = role_statements(cloud, role)
        for need in resolver.needs(call):
            used.setdefault(function, set()).add(need.action)
            if (function, need.action, need.resources) in seen:
                continue
            seen.add((function, need.action, need.resources))
            verdict = "unmapped" if need.action.endswith(":?") else decide(statements[function], need)
            if verdict != "allowed":
                findings.append(Finding(function, need, verdict))
    return findings, used
