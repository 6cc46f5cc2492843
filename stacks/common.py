"""Shared construction helpers: Lambda functions from functions/<name>/ on the Dexa layer, local layer bundling."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCH = lambda_.Architecture.ARM_64
LAYER_PLATFORM = "aarch64-manylinux_2_28"
SERVICE = "dexa"


@jsii.implements(cdk.ILocalBundling)
class LayerBundling:
    """Builds the layer with layers/dexa/build.sh on this machine: no docker (aws-modal.md §5)."""

    def try_bundle(self, output_dir: str, *, image: cdk.DockerImage, **_: Any) -> bool:
        script = ROOT / "layers" / "dexa" / "build.sh"
        if shutil.which("bash") is None:
            return False
        subprocess.run(["bash", str(script), output_dir], check=True, cwd=ROOT)
        return True


def dexa_layer(scope: Construct) -> lambda_.LayerVersion:
    source = ROOT / "layers" / "dexa"
    code = lambda_.Code.from_asset(
        str(source),
        bundling=cdk.BundlingOptions(
            # Required by the API but never pulled: LayerBundling returns True, so CDK skips docker.
            image=cdk.DockerImage.from_registry("public.ecr.aws/sam/build-python3.12"),
            local=LayerBundling(),
        ),
    )
    return lambda_.LayerVersion(
        scope,
        "DexaLayer",
        code=code,
        compatible_runtimes=[RUNTIME],
        compatible_architectures=[ARCH],
        description="The dexa package and its runtime dependencies (boto3 comes from the Lambda runtime)",
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )


def dexa_function(
    scope: Construct,
    ident: str,
    *,
    name: str,
    layer: lambda_.ILayerVersion,
    environment: dict[str, str],
    timeout: cdk.Duration,
    memory_mb: int = 1024,
    description: str = "",
) -> lambda_.Function:
    """A thin shim from functions/<name>/ running on the shared layer, with Powertools settings and a log group."""
    log_group = logs.LogGroup(
        scope, f"{ident}Logs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=cdk.RemovalPolicy.DESTROY
    )
    return lambda_.Function(
        scope,
        ident,
        runtime=RUNTIME,
        architecture=ARCH,
        handler="handler.handler",
        code=lambda_.Code.from_asset(str(ROOT / "functions" / name), exclude=["__pycache__", "*.pyc"]),
        layers=[layer],
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
            **environment,
        },
    )
