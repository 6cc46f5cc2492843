"""API stack: the FastAPI Lambda behind a REST API (stage, per-org usage plans through the API's own authorizer)
plus the webhook routes."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from dexa.adapters.aws import schema

from .agent import MODAL_SECRET_ENV, AgentStack
from .common import dexa_function
from .data import DataStack
from .event_stream import event_stream_function, route_event_stream, web_adapter_layer_arn
from .grants import grant_blobs, grant_table
from .integrations import IntegrationsStack
from .ops import function_alarms, reserve_concurrency

STAGE = "v1"
# Reserved for the API function (`-c dexa:apiConcurrency=N|none`): requests and their authorizer calls always find
# room, whatever the turns are doing. Accounts with a small concurrency quota need `none` (AWS keeps 10 unreserved).
API_CONCURRENCY = 100


class ApiStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        ident: str,
        *,
        data: DataStack,
        agent: AgentStack,
        integrations: IntegrationsStack,
        rate_limit: int = 50,
        burst_limit: int = 100,
        quota_per_day: int = 100_000,
        stage_rate_limit: int = 1000,
        stage_burst_limit: int = 2000,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, ident, **kwargs)
        sm = agent.state_machine
        environment = {
            schema.ENV_TABLE: data.table.table_name,
            schema.ENV_BUCKET: data.bucket.bucket_name,
            schema.ENV_IDEMPOTENCY_TABLE: data.idempotency_table.table_name,
            schema.ENV_STATE_MACHINE_ARN: sm.state_machine_arn,
            schema.ENV_SCHEDULE_GROUP: integrations.schedule_group.ref,
            schema.ENV_SCHEDULER_ROLE_ARN: integrations.scheduler_role.role_arn,
            schema.ENV_SCHEDULER_TARGET_ARN: integrations.scheduler_fn.function_arn,
            schema.ENV_SCHEDULER_DLQ_ARN: integrations.scheduler_dlq.queue_arn,
            # Rewinds and checkpoint listings run here and reach the session's Modal workspace.
            MODAL_SECRET_ENV: agent.modal_secret.secret_arn,
        }
        self.api_fn = dexa_function(
            self,
            "Api",
            name=schema.FN_API,
            timeout=cdk.Duration.seconds(29),
            description="Dexa HTTP API (FastAPI via Mangum); SSE is buffered with retry + Last-Event-ID",
            environment=environment,
        )
        reserve_concurrency(self.api_fn, "dexa:apiConcurrency", API_CONCURRENCY)
        function_alarms(self, "Api", self.api_fn, agent.alarms, errors=5)
        grant_table(self.api_fn, data.table, data.key)
        grant_table(self.api_fn, data.idempotency_table, data.key)
        grant_blobs(self.api_fn, data.bucket, data.key)
        agent.modal_secret.grant_read(self.api_fn)
        sm.grant_start_execution(self.api_fn)
        sm.grant_task_response(self.api_fn)
        self.api_fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["states:StopExecution", "states:DescribeExecution"],
                resources=[
                    self.format_arn(
                        service="states",
                        resource="execution",
                        resource_name=f"{agent.state_machine_name}:*",
                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            )
        )
        # The API manages automations' schedules in its own group only, and may hand them only the scheduler role.
        self.api_fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=[
                    "scheduler:CreateSchedule",
                    "scheduler:UpdateSchedule",
                    "scheduler:DeleteSchedule",
                    "scheduler:GetSchedule",
                ],
                resources=[
                    self.format_arn(
                        service="scheduler", resource="schedule", resource_name=f"{integrations.schedule_group.name}/*"
                    )
                ],
            )
        )
        self.api_fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[integrations.scheduler_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
            )
        )

        # Opt-in true push for event streams (stacks/event_stream.py); it reads the session's events only.
        self.stream_fn: lambda_.Function | None = None
        adapter = web_adapter_layer_arn(self)
        if adapter is not None:
            # It reads events only: no workspace, so no Modal token.
            stream_env = {k: v for k, v in environment.items() if k != MODAL_SECRET_ENV}
            self.stream_fn = event_stream_function(self, environment=stream_env, layer_arn=adapter)
            grant_table(self.stream_fn, data.table, data.key)
            grant_blobs(self.stream_fn, data.bucket, data.key)
        self.api = rest_front(
            self,
            self.api_fn,
            stream_fn=self.stream_fn,
            webhooks_fn=integrations.webhooks_fn,
            org_rate_limit=rate_limit,
            org_burst_limit=burst_limit,
            org_quota_per_day=quota_per_day,
            stage_rate_limit=stage_rate_limit,
            stage_burst_limit=stage_burst_limit,
        )


# Routes a browser opens with nothing but the page URL (the app shell, its files, the login exchange, an emailed
# approval link, an OAuth provider's redirect back, which its signed single-use state authenticates) or that a
# provider signs itself (webhooks): no authorizer, no usage-plan key.
PUBLIC_PATHS = (
    "/",
    "/health",
    "/ui",
    "/ui/{proxy+}",
    "/outputs/review",
    "/oauth/callback",
    "/webhooks/{provider}",
    "/webhooks/tasks/{template_id}",
    "/git/{proxy+}",
)
# The git credential proxy's request and result bodies are binary packs (the advertisements are text).
GIT_BINARY_TYPES = (
    "application/x-git-upload-pack-request",
    "application/x-git-upload-pack-result",
    "application/x-git-receive-pack-request",
    "application/x-git-receive-pack-result",
)

# API Gateway's own refusals in the API's error shape (RFC 9457), not `{"message": ...}`.
GATEWAY_PROBLEMS = (
    (apigw.ResponseType.UNAUTHORIZED, "401", "unauthenticated", "Unauthenticated",
     "missing, malformed, revoked or unknown API key: send `Authorization: Bearer <token>`, or sign in"),
    (apigw.ResponseType.ACCESS_DENIED, "403", "forbidden", "Forbidden", "this key may not call this API"),
    (apigw.ResponseType.THROTTLED, "429", "rate_limited", "Too many requests",
     "the org's request rate is exhausted; retry later"),
    (apigw.ResponseType.QUOTA_EXCEEDED, "429", "quota_exceeded", "Too many requests",
     "the org's daily request quota is used up"),
)  # fmt: skip


def rest_front(
    stack: cdk.Stack,
    api_fn: lambda_.Function,
    *,
    webhooks_fn: lambda_.Function,
    stream_fn: lambda_.Function | None = None,
    org_rate_limit: int,
    org_burst_limit: int,
    org_quota_per_day: int,
    stage_rate_limit: int,
    stage_burst_limit: int,
) -> apigw.RestApi:
    """The REST API. Usage plans meter per API key, and the keys come from the API function acting as a REQUEST
    authorizer (`apiKeySource: AUTHORIZER`): it maps the caller's Dexa key or browser cookie to the org's gateway
    key (dexa.adapters.aws.api_front). So every org has its own throttle and daily quota, and no client (least of
    all a browser, which cannot add headers to a page load) sends `x-api-key`. Org keys are created with the org
    (`dexa cloud bootstrap` / `add-org`) and join the plan named by the `UsagePlanId` output.
    """
    # One JSON line per request (request id, caller IP, method, path, status, size, time) in the API's own group.
    # Writing it needs the account's API Gateway CloudWatch role, set per region: `cloud_watch_role` makes one and
    # sets it (AWS::ApiGateway::Account), replacing any role set before, and keeps it when the stack goes.
    access_logs = logs.LogGroup(
        stack, "ApiAccessLogs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=cdk.RemovalPolicy.DESTROY
    )
    api = apigw.RestApi(
        stack,
        "RestApi",
        description="Dexa API",
        cloud_watch_role=True,
        endpoint_types=[apigw.EndpointType.REGIONAL],
        api_key_source_type=apigw.ApiKeySourceType.AUTHORIZER,
        binary_media_types=list(GIT_BINARY_TYPES),
        deploy_options=apigw.StageOptions(
            stage_name=STAGE,
            # The whole API's ceiling, protecting the backend; each org's own limits are in the usage plan.
            throttling_rate_limit=stage_rate_limit,
            throttling_burst_limit=stage_burst_limit,
            tracing_enabled=True,
            access_log_destination=apigw.LogGroupLogDestination(access_logs),
            access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                caller=True,
                http_method=True,
                ip=True,
                protocol=True,
                request_time=True,
                resource_path=True,
                response_length=True,
                status=True,
                user=True,
            ),
        ),
    )
    # No identity sources: a request may carry its key in either of two headers (Authorization or Cookie), and a
    # cached answer would be keyed on one. The function keeps a short cache of its own.
    authorizer = apigw.RequestAuthorizer(
        stack,
        "OrgAuthorizer",
        handler=api_fn,
        identity_sources=[],
        results_cache_ttl=cdk.Duration.seconds(0),
    )
    protected = {"authorizer": authorizer, "api_key_required": True}
    public = {"authorization_type": apigw.AuthorizationType.NONE, "api_key_required": False}
    backend = apigw.LambdaIntegration(api_fn)
    api.root.add_method("GET", backend, **public)
    api.root.add_resource("{proxy+}").add_method("ANY", backend, **protected)
    api.root.add_resource("health").add_method("GET", backend, **public)
    ui = api.root.add_resource("ui")
    ui.add_method("ANY", backend, **public)
    ui.add_resource("{proxy+}").add_method("ANY", backend, **public)
    outputs = api.root.add_resource("outputs")
    outputs.add_method("ANY", backend, **protected)
    outputs.add_resource("review").add_method("GET", backend, **public)
    # The provider's redirect is cross-site: the SameSite=Strict cookie is not sent, so the authorizer would refuse it.
    api.root.add_resource("oauth").add_resource("callback").add_method("GET", backend, **public)
    if stream_fn is not None:
        route_event_stream(api, backend=backend, stream_fn=stream_fn, method_options=protected)
    # A sandbox's git clones and pushes carry the session's short-lived git token (dexa.gitproxy), not an API key.
    api.root.add_resource("git").add_resource("{proxy+}").add_method("ANY", backend, **public)
    # Webhooks authenticate by signature (GitHub, Slack), not by API key.
    webhooks = api.root.add_resource("webhooks")
    webhooks.add_resource("{provider}").add_method("POST", apigw.LambdaIntegration(webhooks_fn), **public)
    # A saved task template's webhook (dexa.triggers.templates): signed with the template's own secret.
    templates = webhooks.add_resource("tasks").add_resource("{template_id}")
    templates.add_method("POST", apigw.LambdaIntegration(webhooks_fn), **public)

    for response_type, status, code, title, detail in GATEWAY_PROBLEMS:
        body = {"type": f"https://dexa.dev/problems/{code}", "title": title, "status": int(status), "code": code}
        api.add_gateway_response(
            f"Problem{code.title().replace('_', '')}",
            type=response_type,
            status_code=status,
            response_headers={"Content-Type": "'application/problem+json'"},
            templates={"application/json": json.dumps({**body, "detail": detail})},
        )

    plan = api.add_usage_plan(
        "OrgPlan",
        description="Each org's API key (one per org, created with the org) gets these limits on its own",
        throttle=apigw.ThrottleSettings(rate_limit=org_rate_limit, burst_limit=org_burst_limit),
        quota=apigw.QuotaSettings(limit=org_quota_per_day, period=apigw.Period.DAY),
    )
    plan.add_api_stage(stage=api.deployment_stage)
    cdk.CfnOutput(stack, "ApiUrl", value=api.url)
    cdk.CfnOutput(stack, "UsagePlanId", value=plan.usage_plan_id)
    return api
