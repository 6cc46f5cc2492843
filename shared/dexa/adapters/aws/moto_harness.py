"""Run the AWS shape without AWS: moto with state machines that really execute and Lambdas invoked in-process.

Used by the test suites and for local runs (`dexa invoke`). moto is a dev dependency and imported lazily.

Measured moto 5.2.5 quirks this works around (aws-modal.md §2, §9):
- DynamoDB requests are not atomic across threads: a conditional put or a TransactWriteItems (which backs up the
  whole table with deepcopy and restores it on cancellation) can interleave with another thread's write and lose
  it (measured: 60 concurrent appends gave 68 events with gaps). Real DynamoDB applies each request atomically, so
  `serialized_dynamodb()` holds one lock per request; S3 gets the same (concurrent PUTs of one key break moto).
- Lambda without docker returns the request body; `in_process_lambdas()` routes invokes to Python handlers and
  reports exceptions the way the Lambda runtime does (errorType = class name, so Retry/Catch match).
- The CDK-synthesized DefinitionString is an Fn::Join with GetAtt tokens; `resolve_state_machine()` turns it into
  plain ASL with fake function ARNs named after the logical ids.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import threading
import zipfile
from collections.abc import Callable, Iterator, Mapping
from typing import Any

logger = logging.getLogger(__name__)

REGION = "us-east-1"
ACCOUNT = "123456789012"
MOTO_CONFIG: dict[str, Any] = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
Handler = Callable[[dict[str, Any], Any], Any]


@contextlib.contextmanager
def serialized_dynamodb() -> Iterator[None]:
    """Make each moto DynamoDB and S3 request atomic, as the real services are.

    (S3 too: concurrent PUTs of one key in moto close the object another thread is still writing.)
    """
    from moto.dynamodb.responses import DynamoHandler
    from moto.s3.responses import S3Response

    lock = threading.RLock()
    patched = [(DynamoHandler, "call_action"), (S3Response, "key_response"), (S3Response, "bucket_response")]
    originals = [getattr(cls, name) for cls, name in patched]

    def locked(original: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return original(*args, **kwargs)

        return call

    for (cls, name), original in zip(patched, originals, strict=True):
        setattr(cls, name, locked(original))
    try:
        yield
    finally:
        for (cls, name), original in zip(patched, originals, strict=True):
            setattr(cls, name, original)


class LambdaContext:
    """The attributes handlers and Powertools read from a Lambda context."""

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function_name}"
        self.memory_limit_in_mb = 1024
        self.aws_request_id = "local-request"
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


@contextlib.contextmanager
def in_process_lambdas(handlers: Mapping[str, Handler]) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Route moto Lambda invokes to `handlers[function_name]`; yields the list of (name, payload) calls."""
    from moto.awslambda_simple.models import LambdaSimpleBackend

    calls: list[tuple[str, dict[str, Any]]] = []
    original = LambdaSimpleBackend.invoke

    def invoke(self: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any) -> bytes:
        name = function_name.split(":")[6] if function_name.startswith("arn:") else function_name
        payload = json.loads(body or b"{}")
        calls.append((name, payload))
        handler = handlers.get(name)
        if handler is None:
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": "ResourceNotFoundException", "errorMessage": name}).encode()
        try:
            return json.dumps(handler(payload, LambdaContext(name))).encode()
        except Exception as exc:  # the Lambda runtime reports any exception as a function error
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}).encode()

    LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        LambdaSimpleBackend.invoke = original  # type: ignore[method-assign]


def create_functions(names: list[str], *, region: str = REGION) -> str:
    """Register placeholder functions (moto checks they exist) and return the role ARN used."""
    import boto3

    iam = boto3.client("iam", region_name=region)
    try:
        role = iam.create_role(RoleName="dexa-local", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        role = iam.get_role(RoleName="dexa-local")["Role"]["Arn"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("handler.py", "def handler(event, context):\n    return event\n")
    lam = boto3.client("lambda", region_name=region)
    for name in names:
        lam.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler="handler.handler",
            Code={"ZipFile": buf.getvalue()},
        )
    return role


def _resolve(value: Any, region: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if "Fn::GetAtt" in value:
            logical = value["Fn::GetAtt"][0]
            return f"arn:aws:lambda:{region}:{ACCOUNT}:function:{logical}"
        if "Ref" in value:
            pseudo = {
                "AWS::Partition": "aws",
                "AWS::Region": region,
                "AWS::AccountId": ACCOUNT,
                "AWS::URLSuffix": "amazonaws.com",
            }
            return pseudo.get(value["Ref"], str(value["Ref"]))
        if "Fn::Join" in value:
            sep, parts = value["Fn::Join"]
            return sep.join(_resolve(p, region) for p in parts)
    raise ValueError(f"cannot resolve CloudFormation value {value!r}")


def resolve_state_machine(template: Mapping[str, Any], *, region: str = REGION) -> tuple[str, list[str]]:
    """(plain ASL, Lambda function names it calls) from a synthesized template's one state machine."""
    machines = [r for r in template["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    if len(machines) != 1:
        raise ValueError(f"expected one state machine in the template, found {len(machines)}")
    props = machines[0]["Properties"]
    definition = _resolve(props["DefinitionString"], region)
    for name, value in (props.get("DefinitionSubstitutions") or {}).items():
        definition = definition.replace("${" + name + "}", _resolve(value, region))
    functions: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            fn = node.get("FunctionName")
            if isinstance(fn, str) and fn.startswith("arn:aws:lambda:"):
                functions.add(fn.split(":")[6])
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(json.loads(definition))
    return definition, sorted(functions)
