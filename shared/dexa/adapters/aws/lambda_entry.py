"""What functions/*/handler.py call: the runtime built once per cold start, Powertools, one handler per function.

Import cost is the Lambda init phase: modules are imported here at load, but nothing talks to AWS or builds the
runtime until the first invocation (the environment, secrets and network are only needed then).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit

from dexa.core import tracing
from dexa.core.errors import ConfigError

from . import schema

logger = logging.getLogger(__name__)
LambdaHandler = Callable[[dict[str, Any], Any], Any]

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
    """Logger, Tracer (None without aws-xray-sdk: the `tracer` extra of Powertools) and Metrics."""
    service = os.environ.get("POWERTOOLS_SERVICE_NAME", "dexa")
    log = Logger(service=service)
    # dexa modules log through the stdlib; give them the same JSON formatter and correlation keys.
    copy_config_to_registered_loggers(source_logger=log)
    try:
        from aws_lambda_powertools import Tracer

        tracer: Any = Tracer(service=service)
    except ImportError:  # aws-xray-sdk missing: Lambda active tracing still records the invocation segment
        tracer = None
    metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Dexa"), service=service)
    return log, tracer, metrics


def load_secrets(env: MutableMapping[str, str] | None = None, *, client: Any = None) -> None:
    """Copy the deployed secrets into os.environ once; values already present win (local runs, tests)."""
    if env is None:
        env = os.environ
    for arn_var, mapping in SECRET_ENV.items():
        arn = env.get(arn_var)
        if not arn or all(env.get(target) for target in mapping.values()):
            continue
        if client is None:
            import boto3

            client = boto3.client("secretsmanager")
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
            continue
        if "" in mapping and raw.lstrip().startswith("{"):
            mapping = MODEL_SECRET_JSON
        for field, target in mapping.items():
            if env.get(target):
                continue
            value = raw if not field else json.loads(raw or "{}").get(field, "")
            if value:
                env[target] = value


def _token_fields(raw: str, mapping: Mapping[str, str]) -> bool:
    try:
        doc = json.loads(raw or "{}")
    except ValueError:
        return False
    return isinstance(doc, dict) and all(doc.get(field) for field in mapping)  # pyright: ignore[reportUnknownMemberType]


def _brief(exc: BaseException) -> str:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code") if hasattr(exc, "response") else None
    return f"{type(exc).__name__}: {code or exc}"


@functools.lru_cache(maxsize=1)
def cloud_runtime() -> Any:
    """dexa.wiring.build_runtime under DEXA_STORE=dynamo, with the Step Functions driver when a machine is set."""
    from dexa.settings import get_settings
    from dexa.wiring import build_runtime

    from .sfn import SfnTurnDriver

    load_secrets()
    # Lambda's filesystem is read-only except /tmp, and HOME is not writable: Dexa's home lives in /tmp there.
    os.environ.setdefault("DEXA_HOME", "/tmp/dexa")
    runtime = build_runtime(get_settings())
    from .warm_envs import StampedEnvs

    # A warm container keeps each session's environment until the session changes what it is built from.
    runtime.engine.envs = StampedEnvs(runtime.engine.envs, kv=runtime.store)
    if os.environ.get(schema.ENV_STATE_MACHINE_ARN) and not isinstance(runtime.driver, SfnTurnDriver):
        # Duck-compatible with InProcessDriver where the API uses it (start, cancel, is_running).
        runtime.driver = SfnTurnDriver.from_env(runtime.engine, os.environ)  # pyright: ignore[reportAttributeAccessIssue]
    return runtime


def _loop() -> asyncio.AbstractEventLoop:
    # Mangum runs on the thread's current loop; the follow-up work below must use that same loop.
    try:
        return asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        return loop


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


def api_handler() -> LambdaHandler:
    """FastAPI (dexa.api.create_app) through Mangum; SSE answers in buffered mode with retry + Last-Event-ID."""
    from mangum import Mangum

    state: dict[str, Any] = {}

    def handle(event: dict[str, Any], context: Any) -> Any:
        if "asgi" not in state:
            try:
                from dexa.api import create_app
            except ImportError as exc:
                raise ConfigError(f"the API Lambda needs dexa.api.create_app: {exc}") from exc
            from .api_front import TEXT_MIME_TYPES, buffered_stream

            stream = buffered_stream()  # long-poll: a watching client is not one request per second
            runtime = cloud_runtime()
            state["runtime"] = runtime
            from dexa.wiring import Runtime

            if isinstance(runtime, Runtime):
                from dexa.runtime.server_app import build_app

                app = build_app(runtime, stream=stream)
            else:
                app = create_app(runtime, stream=stream)
            from .stage_root import StageRoot

            # problem+json is text too: Mangum's default list would send errors base64-encoded. StageRoot: the
            # stage is the app's root_path, so redirects and the web UI's URLs stay inside it.
            state["asgi"] = Mangum(StageRoot(app), lifespan="off", text_mime_types=list(TEXT_MIME_TYPES))
        _loop()  # Mangum runs on the thread's current loop; make sure there is one
        response = state["asgi"](event, context)
        drain = getattr(state["runtime"].driver, "drain", None)
        if drain is not None:  # a StartExecution scheduled by this request must happen before Lambda freezes us
            _loop().run_until_complete(drain())
        return response

    return observed(handle, correlation_id_path=correlation_paths.API_GATEWAY_REST)


def step_handler() -> LambdaHandler:
    """The agent-step task bodies (tasks.TaskRunner), with session/turn/tool correlation keys on every log line."""
    from .sfn import SfnTurnDriver
    from .tasks import TaskRunner

    state: dict[str, TaskRunner] = {}
    log, _, _ = powertools()

    def handle(event: dict[str, Any], context: Any) -> Any:
        runner = state.get("runner")
        if runner is None:
            runtime = cloud_runtime()
            driver = runtime.driver if isinstance(runtime.driver, SfnTurnDriver) else None
            runner = state["runner"] = TaskRunner(runtime.engine, driver=driver)
        log.append_keys(
            session_id=event.get("session_id"),
            turn=event.get("turn"),
            task=event.get("task"),
            tool_use_id=event.get("tool_use_id") or None,
        )
        return runner.handle(event, context)

    return observed(handle, correlation_id_path="session_id")


def webhooks_handler() -> LambdaHandler:
    """Slack interactions and GitHub deliveries (dexa.runtime.webhooks composes the receiver), Slack events and SES
    inbound mail (dexa.runtime.inbound fronts it)."""
    state: dict[str, Any] = {}

    def handle(event: dict[str, Any], context: Any) -> Any:
        receiver: Any = state.get("receiver")
        if receiver is None:
            from dexa.runtime.inbound import InboundReceiver
            from dexa.runtime.webhooks import build_receiver

            state["runtime"] = runtime = cloud_runtime()
            receiver = state["receiver"] = InboundReceiver(runtime, os.environ, build_receiver(runtime, os.environ))
        response = _loop().run_until_complete(receiver.handle(event))
        drain = getattr(state["runtime"].driver, "drain", None)
        if drain is not None:  # a session a mention started must reach StartExecution before Lambda freezes us
            _loop().run_until_complete(drain())
        return response

    return observed(handle, correlation_id_path=correlation_paths.API_GATEWAY_REST)


def scheduler_handler() -> LambdaHandler:
    """EventBridge Scheduler's target: `{schedule_id, org_id, scheduled_time}` starts the schedule's session. An
    exception fails the invoke, and Scheduler's retry then starts the run (dexa.triggers.schedules)."""
    from dexa.triggers.schedules import start_scheduled_run

    def handle(event: dict[str, Any], context: Any) -> Any:
        runtime = cloud_runtime()
        return _loop().run_until_complete(start_scheduled_run(runtime, event))

    return observed(handle, correlation_id_path="schedule_id")


def reconciler_handler() -> LambdaHandler:
    """Ends the turns of executions that FAILED, TIMED_OUT or were ABORTED outside the machine's Catch
    (EventBridge status changes), or sweeps the machine's recent dead executions (a schedule, {"sweep": true})."""
    from .reconcile import Reconciler

    state: dict[str, Reconciler] = {}

    def handle(event: dict[str, Any], context: Any) -> Any:
        reconciler = state.get("reconciler")
        if reconciler is None:
            import boto3

            runtime = cloud_runtime()
            arn = os.environ.get(schema.ENV_STATE_MACHINE_ARN, "")
            if not arn:
                raise ConfigError(f"the reconciler needs {schema.ENV_STATE_MACHINE_ARN}")
            reconciler = state["reconciler"] = Reconciler(runtime.engine, boto3.client("stepfunctions"), arn)
        return _loop().run_until_complete(reconciler.handle(event))

    return observed(handle, correlation_id_path="detail.executionArn")
