"""moto as a server process whose Lambda Invoke reaches the Lambda emulator instead of Docker.

    python moto_launcher.py --lambda-url http://127.0.0.1:PORT

Prints `listening on http://127.0.0.1:PORT` once it serves. Everything else reaches it by endpoint URL only.

Two changes to stock `moto.server`, both because this machine has no Docker:
* Lambda Invoke (and so every Step Functions Task, API Gateway integration and Scheduler target that goes through
  it) is forwarded over HTTP to the emulator, which runs the function's own code from its asset and layer dirs.
* Step Functions executes definitions (`execute_state_machine`), set before serving, as `POST /moto-api/config` would.
* A DynamoDB transaction no longer copies whole tables (moto_transactions.py): its cost grew with the table.

`GET /_e2e/requests` returns a count of the AWS requests served so far by service and action (the benchmark's
"AWS requests per turn"); `POST /_e2e/requests` resets it. `POST /_e2e/faults` with `{"action": "states:StartExecution",
"count": N, "code": "...", "message": "..."}` makes the next N such requests fail as AWS fails them (status 400, a
JSON error body the SDK does not retry): a fault injected where a test needs a first attempt to fail.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import threading
import urllib.error
import urllib.request
from collections import Counter
from typing import Any

_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d+/[^/]+/([^/]+)/")


def forward_invoke(lambda_url: str):
    def invoke(self: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any):
        name = function_name.split(":")[6] if function_name.startswith("arn:") else function_name
        invocation_type = headers.get("X-Amz-Invocation-Type") or "RequestResponse"
        data = body if isinstance(body, bytes) else (body or "").encode()
        request = urllib.request.Request(
            f"{lambda_url}/2015-03-31/functions/{name}/invocations",
            data=data or b"{}",
            method="POST",
            headers={"X-Amz-Invocation-Type": invocation_type, "content-type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=960) as response:
                payload = response.read()
                error = response.headers.get("X-Amz-Function-Error")
        except urllib.error.HTTPError as exc:  # the emulator's own failure (unknown function...) is a service error
            payload = json.dumps({"errorType": "ServiceException", "errorMessage": exc.read().decode()}).encode()
            error = "Unhandled"
        if error:
            response_headers["x-amz-function-error"] = error
        return payload

    return invoke


class RequestCounter:
    """WSGI middleware counting requests by (service, action)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.faults: dict[str, dict[str, Any]] = {}

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path == "/_e2e/requests":
            if environ["REQUEST_METHOD"] == "POST":
                with self.lock:
                    self.counts.clear()
            with self.lock:
                body = json.dumps(dict(self.counts)).encode()
            start_response("200 OK", [("content-type", "application/json"), ("content-length", str(len(body)))])
            return [body]
        if path == "/_e2e/mail":
            # The mail SES accepted. (moto's /moto-api/data.json would list it too, but fails on other models.)
            from moto.ses.models import ses_backends

            sent = [
                {"source": m.source, "destinations": m.destinations, "subject": m.subject, "body": m.body}
                for account in ses_backends.values()
                for backend in account.values()
                for m in backend.sent_messages
                if hasattr(m, "body")
            ]
            body = json.dumps(sent).encode()
            start_response("200 OK", [("content-type", "application/json"), ("content-length", str(len(body)))])
            return [body]
        if path == "/_e2e/faults" and environ["REQUEST_METHOD"] == "POST":
            size = int(environ.get("CONTENT_LENGTH") or 0)
            fault = json.loads(environ["wsgi.input"].read(size) or b"{}")
            with self.lock:
                self.faults[str(fault["action"])] = fault
            start_response("204 No Content", [("content-length", "0")])
            return [b""]
        if not path.startswith("/moto-api"):
            key = self._key(environ)
            with self.lock:
                self.counts[key] += 1
                fault = self.faults.get(key)
                if fault is not None and int(fault.get("count", 0)) > 0:
                    fault["count"] = int(fault["count"]) - 1
                else:
                    fault = None
            if fault is not None:
                code = str(fault.get("code", "AccessDeniedException"))
                body = json.dumps({"__type": code, "message": fault.get("message", "injected by the e2e test")})
                headers = [("content-type", "application/x-amz-json-1.0"), ("x-amzn-ErrorType", code)]
                start_response("400 Bad Request", [*headers, ("content-length", str(len(body)))])
                return [body.encode()]
        return self.app(environ, start_response)

    @staticmethod
    def _key(environ: dict[str, Any]) -> str:
        scope = _CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        service = scope.group(1) if scope else "unsigned"
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target:
            return f"{service}:{target.rsplit('.', 1)[-1]}"
        path = environ.get("PATH_INFO", "")
        if service == "lambda" and path.endswith("/invocations"):
            return "lambda:Invoke"
        return f"{service}:{environ['REQUEST_METHOD']} {'/'.join(path.split('/')[:3])}"


# Every SDK call on AWS is TLS; here they are plain HTTP to 127.0.0.1. The condition keys a request carries:
REQUEST_CONDITIONS = {"aws:SecureTransport": "true"}


def bucket_policy_with_conditions() -> None:
    """moto answers a bucket-policy statement whose Condition it cannot evaluate with DENIED, even for a Deny: the
    stack's TLS-only statement (Deny s3:* when aws:SecureTransport is false) would refuse every object call. Drop
    the statements whose Bool conditions on the keys above do not hold for the request, as AWS does; statements
    with other conditions go to moto unchanged."""
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket

    def holds(condition: dict[str, Any] | None) -> bool:
        for operator, keys in (condition or {}).items():
            for key, expected in keys.items():
                if operator != "Bool" or key not in REQUEST_CONDITIONS:
                    return True  # not ours to judge
                values = expected if isinstance(expected, list) else [expected]
                if REQUEST_CONDITIONS[key] not in [str(v).lower() for v in values]:
                    return False
        return True

    def get_permission(self: Any, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        doc = json.loads(self.policy)
        statements = doc.get("Statement", [])
        statements = [
            st for st in (statements if isinstance(statements, list) else [statements]) if holds(st.get("Condition"))
        ]
        if not statements:
            return PermissionResult.NEUTRAL
        return IAMPolicy(json.dumps({**doc, "Statement": statements})).is_action_permitted(action, resource)

    FakeBucket.get_permission = get_permission  # type: ignore[method-assign]


def receipt_rules_see_the_docker_less_lambdas() -> None:
    """SES's CreateReceiptRule checks that a Lambda action's function exists, but in moto's regular Lambda backend;
    without Docker the functions live in the `awslambda_simple` backend, so every rule with a Lambda action would be
    refused. The check looks there instead (a missing function is still refused)."""
    from moto.awslambda_simple.models import lambda_simple_backends
    from moto.ses.exceptions import InvalidLambdaFunctionException
    from moto.ses.models import SESBackend

    def validate(self: Any, lambda_action: dict[str, str]) -> None:
        try:
            lambda_simple_backends[self.account_id][self.region_name].get_function(lambda_action["FunctionArn"])
        except Exception:
            raise InvalidLambdaFunctionException(f"Invalid Lambda function: {lambda_action['FunctionArn']}") from None

    SESBackend._validate_lambda_action = validate  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lambda-url", required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)

    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.core.config import default_user_config
    from moto.moto_server.threaded_moto_server import MotoRequestHandler
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    default_user_config["lambda"] = {"use_docker": False}
    default_user_config["stepfunctions"] = {"execute_state_machine": True}
    # Roles attach AWS managed policies (AWSLambdaBasicExecutionRole...), which exist in every real account.
    default_user_config["iam"] = {"load_aws_managed_policies": True}
    LambdaSimpleBackend.invoke = forward_invoke(args.lambda_url.rstrip("/"))  # type: ignore[method-assign]
    bucket_policy_with_conditions()
    receipt_rules_see_the_docker_less_lambdas()
    from moto_transactions import transactions_without_table_copy  # a sibling file: this runs as a script

    transactions_without_table_copy()

    app = RequestCounter(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", args.port, app, threaded=True, request_handler=MotoRequestHandler)
    port = server.server_address[1]
    # Step Functions reaches Lambda through moto's own endpoint (moto.settings.moto_server_port).
    os.environ["MOTO_PORT"] = str(port)
    print(f"listening on http://127.0.0.1:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
