"""Shared construction helpers: Lambda functions from functions/<name>/ on their stack's Dexa layer."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from .layer import ROOT, LambdaTarget, dexa_layer

__all__ = ["ROOT", "SERVICE", "dexa_function", "dexa_layer"]

SERVICE = "dexa"


def dexa_function(
    scope: Construct,
    ident: str,
    *,
    name: str,
    environment: dict[str, str],
    timeout: cdk.Duration,
    memory_mb: int = 1024,
    description: str = "",
) -> lambda_.Function:
    """A thin shim from functions/<name>/ on its own stack's layer, with Powertools settings and a log group.

    Runtime and architecture come from the CDK context (LambdaTarget), the same as the layer's build.
    """
    target = LambdaTarget.of(scope)
    log_group = logs.LogGroup(
        scope, f"{ident}Logs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=cdk.RemovalPolicy.DESTROY
    )
    return lambda_.Function(
        scope,
        ident,
        runtime=target.runtime,
        architecture=target.architecture,
        handler="handler.handler",
        code=lambda_.Code.from_asset(str(ROOT / "functions" / name), exclude=["__pycache__", "*.pyc"]),
        layers=[dexa_layer(scope)],
        memory_size=memory_mb,
        timeout=timeout,
        tracing=lambda_.Tracing.ACTIVE,
        log_group=log_group,
        description=description or f"Dexa {name}",
        environment={
            "POWERTOOLS_SERVICE_NAME": SERVICE,
            "POWERTOOLS_METRICS_NAMESPACE": "Dexa",
            "POWERTOOLS_LOG_LEVEL": "INFO",
            "DEXA_HOSTED": "true",
            "DEXA_STORE": "dynamo",
            "DEXA_SANDBOX": "modal",
            "DEXA_HOME": "/tmp/dexa",  # Lambda's filesystem is read-only except /tmp (HOME too)
            **environment,
        },
    )
