"""True push for `GET /sessions/{id}/events`: API Gateway REST response streaming to the event-stream function.

On by default, with the Lambda Web Adapter layer AWS publishes (account 753240598075, `LambdaAdapterLayerX86` or
`LambdaAdapterLayerArm64` by the functions' architecture, in the stack's region; version pinned below). Another
version or a copy in your own account: `-c dexa:webAdapterLayerArn=<layer version ARN>`; off:
`-c dexa:webAdapterLayerArn=none`, and the API function answers the events route with long-polled buffered SSE
(also the way for partitions where that account publishes nothing, such as aws-cn).

The function runs `functions/api_stream/run.sh` (dexa.adapters.aws.stream_server: the same app under uvicorn); the
adapter streams its response through an integration with `responseTransferMode: STREAM`, up to 15 minutes. The
route keeps the authorizer and the org's usage plan; only the events route moves, everything else under /sessions
stays on the API function.
"""

from __future__ import annotations

from typing import Any, Final

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from .common import dexa_function

CONTEXT_KEY: Final = "dexa:webAdapterLayerArn"
OFF: Final = ("none", "off", "false")
# The adapter's publisher and the pinned layer version (v1.0.x: the same version number for both architectures).
ADAPTER_ACCOUNT: Final = "753240598075"
ADAPTER_VERSION: Final = 28
ADAPTER_LAYERS: Final = {"x86_64": "LambdaAdapterLayerX86", "arm64": "LambdaAdapterLayerArm64"}
FN_NAME: Final = "api_stream"
ADAPTER_PORT: Final = "8080"
# The adapter's own settings: wrap the runtime, stream the response, wait for /health before the first request.
ADAPTER_ENV: Final = {
    "AWS_LAMBDA_EXEC_WRAPPER": "/opt/bootstrap",
    "AWS_LWA_INVOKE_MODE": "response_stream",
    "AWS_LWA_PORT": ADAPTER_PORT,
    "AWS_LWA_READINESS_CHECK_PATH": "/health",
}
STREAM_TIMEOUT: Final = cdk.Duration.minutes(15)


def published_adapter_arn(scope: Construct) -> str:
    """AWS's Lambda Web Adapter layer for the stack's region and the functions' architecture."""
    from .layer import LambdaTarget

    layer = ADAPTER_LAYERS[LambdaTarget.of(scope).arch]
    return f"arn:aws:lambda:{cdk.Stack.of(scope).region}:{ADAPTER_ACCOUNT}:layer:{layer}:{ADAPTER_VERSION}"


def web_adapter_layer_arn(scope: Construct) -> str | None:
    """The adapter layer the event-stream function runs under, or None when streaming is turned off."""
    arn = scope.node.try_get_context(CONTEXT_KEY)
    if arn is None or arn == "":
        return published_adapter_arn(scope)
    if isinstance(arn, str) and arn.lower() in OFF:
        return None
    if not isinstance(arn, str) or not arn.startswith("arn:") or ":layer:" not in arn:
        raise ValueError(f"{CONTEXT_KEY} must be a Lambda layer version ARN or 'none', not {arn!r}")
    return arn


def event_stream_function(scope: Construct, *, environment: dict[str, str], layer_arn: str) -> lambda_.Function:
    fn = dexa_function(
        scope,
        "ApiStream",
        name=FN_NAME,
        timeout=STREAM_TIMEOUT,
        description="Dexa event streams: the API app under uvicorn, streamed by the Lambda Web Adapter",
        environment={**environment, **ADAPTER_ENV},
    )
    # The adapter runs this script instead of a Python handler.
    cfn: Any = fn.node.default_child
    cfn.handler = "run.sh"
    fn.add_layers(lambda_.LayerVersion.from_layer_version_arn(scope, "WebAdapterLayer", layer_arn))
    return fn


def route_event_stream(
    api: apigw.RestApi,
    *,
    backend: apigw.Integration,
    stream_fn: lambda_.Function,
    method_options: dict[str, Any],
) -> None:
    """/sessions and everything under it stay on `backend`; only GET /sessions/{session_id}/events streams."""
    sessions = api.root.add_resource("sessions")
    sessions.add_method("ANY", backend, **method_options)
    session = sessions.add_resource("{session_id}")
    session.add_method("ANY", backend, **method_options)
    session.add_resource("{proxy+}").add_method("ANY", backend, **method_options)
    streaming = apigw.LambdaIntegration(
        stream_fn, response_transfer_mode=apigw.ResponseTransferMode.STREAM, timeout=STREAM_TIMEOUT
    )
    session.add_resource("events").add_method("GET", streaming, **method_options)
