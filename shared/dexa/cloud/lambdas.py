"""The cloud entry points: what functions/*/handler.py build at cold start, one handler per function.

The composition the Lambda functions need (the runtime over DynamoDB, S3 and Step Functions from dexa.wiring, the
API app, the step runner, the webhook and schedule receivers) lives here, a surface, and not in adapters/aws, which
only provides the AWS parts (dexa.adapters.aws.lambda_entry: secrets, Powertools, tracing).

Import cost is the Lambda init phase: nothing heavy is imported at load, and nothing talks to AWS or builds the
runtime until the first invocation (the environment, secrets and network are only needed then).
"""

from __future__ import annotations

import asyncio
import functools
import os
from typing import Any

from aws_lambda_powertools.logging import correlation_paths

from dexa.adapters.aws import schema
from dexa.adapters.aws.lambda_entry import OPTIONAL_SECRETS, LambdaHandler, load_secrets, observed, powertools
from dexa.core.errors import ConfigError

__all__ = [
    "api_handler",
    "cloud_runtime",
    "reconciler_handler",
    "scheduler_handler",
    "step_handler",
    "webhooks_handler",
]


@functools.lru_cache(maxsize=1)
def cloud_runtime() -> Any:
    """dexa.wiring.build_runtime under DEXA_STORE=dynamo, with the Step Functions driver when a machine is set."""
    from dexa.adapters.aws.sfn import SfnTurnDriver
    from dexa.settings import get_settings
    from dexa.wiring import build_runtime

    # The Modal token is read when a workspace is first needed: the API's requests mostly never need it.
    load_secrets(defer=OPTIONAL_SECRETS)
    # Lambda's filesystem is read-only except /tmp, and HOME is not writable: Dexa's home lives in /tmp there.
    os.environ.setdefault("DEXA_HOME", "/tmp/dexa")
    runtime = build_runtime(get_settings())
    from dexa.adapters.aws.warm_envs import StampedEnvs

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


def api_handler() -> LambdaHandler:
    """FastAPI (dexa.api.create_app) through Mangum; SSE answers in buffered mode with retry + Last-Event-ID."""
    from mangum import Mangum

    from dexa.cloud import cold_gc

    # Until the first API request is answered, collect rarely (dexa.cloud.cold_gc): start-up is the authorizer's
    # first call and this request's FastAPI, app and runtime, and almost none of it is garbage.
    cold_gc.pause()
    state: dict[str, Any] = {}

    def handle(event: dict[str, Any], context: Any) -> Any:
        try:
            return serve(event, context)
        finally:
            cold_gc.resume()  # start-up is over (answered or failed): freeze what it built, collect as usual

    def serve(event: dict[str, Any], context: Any) -> Any:
        if "asgi" not in state:
            try:
                from dexa.api import create_app
            except ImportError as exc:
                raise ConfigError(f"the API Lambda needs dexa.api.create_app: {exc}") from exc
            from dexa.adapters.aws.api_front import TEXT_MIME_TYPES, buffered_stream

            stream = buffered_stream()  # long-poll: a watching client is not one request per second
            runtime = cloud_runtime()
            state["runtime"] = runtime
            from dexa.wiring import Runtime

            if isinstance(runtime, Runtime):
                from dexa.server_app import build_app

                app = build_app(runtime, stream=stream)
            else:
                app = create_app(runtime, stream=stream)
            from dexa.adapters.aws.stage_root import StageRoot

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
    from dexa.adapters.aws.sfn import SfnTurnDriver
    from dexa.adapters.aws.tasks import TaskRunner

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
    """Slack interactions, GitHub deliveries, Slack events, task templates and SES inbound mail (dexa.cloud.webhooks
    fronts them)."""
    state: dict[str, Any] = {}

    def handle(event: dict[str, Any], context: Any) -> Any:
        receiver: Any = state.get("receiver")
        if receiver is None:
            from dexa.cloud.webhooks import InboundReceiver, build_receiver

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
    from dexa.adapters.aws.reconcile import Reconciler

    state: dict[str, Reconciler] = {}

    def handle(event: dict[str, Any], context: Any) -> Any:
        reconciler = state.get("reconciler")
        if reconciler is None:
            from dexa.adapters.aws.clients import aws_client

            runtime = cloud_runtime()
            arn = os.environ.get(schema.ENV_STATE_MACHINE_ARN, "")
            if not arn:
                raise ConfigError(f"the reconciler needs {schema.ENV_STATE_MACHINE_ARN}")
            reconciler = state["reconciler"] = Reconciler(runtime.engine, aws_client("stepfunctions"), arn)
        return _loop().run_until_complete(reconciler.handle(event))

    return observed(handle, correlation_id_path="detail.executionArn")
