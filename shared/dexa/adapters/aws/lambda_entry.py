"""The AWS side of a Lambda entry: deployed secrets copied into the environment, Powertools (JSON logs with the Lambda
context, X-Ray, metrics) and OpenTelemetry around each invocation.

What the functions compose from it (the runtime, the API app, the step runner) lives in dexa.cloud.lambdas: an
adapter does not import wiring, api or runtime (ARCHITECTURE.md).
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Callable, Collection, Mapping, MutableMapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit

from dexa.core import tracing

logger = logging.getLogger(__name__)
LambdaHandler = Callable[[dict[str, Any], Any], Any]

ENV_XRAY_SDK = "DEXA_XRAY_SDK"
# Secrets Manager values copied into the environment the runtime reads (never logged, never sent to a sandbox).
SECRET_ENV = {
    "DEXA_ANTHROPIC_SECRET_ARN": {"": "ANTHROPIC_API_KEY"},
    "DEXA_MODAL_SECRET_ARN": {"token_id": "MODAL_TOKEN_ID", "token_secret": "MODAL_TOKEN_SECRET"},
}
# Secrets a deployment may leave unset (a step that needs one reports it); the others fail the cold start.
OPTIONAL_SECRETS = ("DEXA_MODAL_SECRET_ARN",)
# The model secret may also be JSON naming the endpoint (a gateway or proxy in front of the Messages API).
MODEL_SECRET_JSON = {"api_key": "ANTHROPIC_API_KEY", "base_url": "ANTHROPIC_BASE_URL"}


@functools.lru_cache(maxsize=1)
def powertools() -> tuple[Logger, Any, Metrics]:
    """Logger, Tracer (None unless DEXA_XRAY_SDK=1 and aws-xray-sdk is installed) and Metrics."""
    service = os.environ.get("POWERTOOLS_SERVICE_NAME", "dexa")
    log = Logger(service=service)
    # dexa modules log through the stdlib; give them the same JSON formatter and correlation keys.
    copy_config_to_registered_loggers(source_logger=log)
    tracer: Any = None
    # The X-Ray SDK costs ~250 ms of CPU at every cold start (its import and botocore patching), half the API's
    # budget. Without it Lambda's active tracing still records each invocation (init, invocation, overhead) and
    # dexa's OpenTelemetry spans continue that trace; the SDK only adds subsegments for the handler and each AWS
    # call. A deployment that wants them sets DEXA_XRAY_SDK=1 on the functions.
    if os.environ.get(ENV_XRAY_SDK, "") == "1":
        try:
            from aws_lambda_powertools import Tracer

            tracer = Tracer(service=service)
        except ImportError:  # aws-xray-sdk missing (the `tracer` extra of Powertools)
            tracer = None
    metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Dexa"), service=service)
    return log, tracer, metrics


def load_secrets(
    env: MutableMapping[str, str] | None = None, *, client: Any = None, defer: Collection[str] = ()
) -> None:
    """Copy the deployed secrets into os.environ once; values already present win (local runs, tests).

    The secrets named in `defer` (their ARN variables) are read when their variables are first needed
    (dexa.core.env_on_demand.fill, e.g. the Modal token when a workspace is first used), so a cold container that
    never needs them (the API serving reads) makes no Secrets Manager client for them.
    """
    if env is None:
        env = os.environ
    for arn_var, mapping in SECRET_ENV.items():
        arn = env.get(arn_var)
        if not arn or all(env.get(target) for target in mapping.values()):
            continue
        if arn_var in defer and env is os.environ:
            from dexa.core import env_on_demand

            env_on_demand.register(mapping.values(), functools.partial(_load_one, env, arn_var, None))
            continue
        client = _load_one(env, arn_var, client)


def _load_one(env: MutableMapping[str, str], arn_var: str, client: Any) -> Any:
    """One secret into `env`; returns the Secrets Manager client (made here if `client` is None) for the next."""
    mapping, arn = SECRET_ENV[arn_var], env[arn_var]
    if client is None:
        from .clients import aws_client

        client = aws_client("secretsmanager")
    try:
        raw = client.get_secret_value(SecretId=arn).get("SecretString") or ""
        if arn_var in OPTIONAL_SECRETS and not _token_fields(raw, mapping):
            raise ValueError('not JSON with "token_id" and "token_secret"')
    except Exception as exc:
        if arn_var not in OPTIONAL_SECRETS:
            raise
        # Only the steps that need a workspace need it: they fail with a clear ConfigError (no token), while
        # every other task (record_failure, the reconciler, the API) keeps working.
        logger.warning("secret %s (%s) is unset or malformed, left out: %s", arn_var, arn, _brief(exc))
        return client
    if "" in mapping and raw.lstrip().startswith("{"):
        mapping = MODEL_SECRET_JSON
    for field, target in mapping.items():
        if env.get(target):
            continue
        value = raw if not field else json.loads(raw or "{}").get(field, "")
        if value:
            env[target] = value
    return client


def _token_fields(raw: str, mapping: Mapping[str, str]) -> bool:
    try:
        doc = json.loads(raw or "{}")
    except ValueError:
        return False
    return isinstance(doc, dict) and all(doc.get(field) for field in mapping)  # pyright: ignore[reportUnknownMemberType]


def _brief(exc: BaseException) -> str:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code") if hasattr(exc, "response") else None
    return f"{type(exc).__name__}: {code or exc}"


def observed(fn: LambdaHandler, *, correlation_id_path: str | None = None) -> LambdaHandler:
    """Powertools around a handler: JSON logs with the Lambda context and a correlation id, X-Ray, metrics."""
    log, tracer, metrics = powertools()

    def counted(event: dict[str, Any], context: Any) -> Any:
        metrics.add_metric(name="Invocations", unit=MetricUnit.Count, value=1)
        return traced(fn, event, context)

    wrapped = tracer.capture_lambda_handler(counted) if tracer is not None else counted
    wrapped = log.inject_lambda_context(wrapped, correlation_id_path=correlation_id_path, clear_state=True)
    return metrics.log_metrics(wrapped, capture_cold_start_metric=True)


def traced(fn: LambdaHandler, event: dict[str, Any], context: Any) -> Any:
    """OpenTelemetry around one invocation, when an OTLP endpoint is configured (else a plain call).

    Powertools' Tracer stays the X-Ray recorder (it speaks only X-Ray). Spans of this invocation continue the
    invocation's X-Ray trace (adapters/otel/xray.py) unless they have a parent of their own (a traceparent header,
    a step's turn); they are exported before returning, since Lambda freezes the process once the handler returns.
    """
    if not tracing.enabled():
        if not tracing.wanted(os.environ):
            return fn(event, context)
        from dexa.adapters.otel import install_from_env

        install_from_env(os.environ)
    from dexa.adapters.otel.xray import traceparent_from_xray

    try:
        with tracing.continue_from(traceparent_from_xray(os.environ.get("_X_AMZN_TRACE_ID"))):
            return fn(event, context)
    finally:
        tracing.tracer().flush()
