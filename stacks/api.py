"""API stack: the FastAPI Lambda behind a REST API (stage, throttling, API keys) plus the webhook routes."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from constructs import Construct

from dexa.adapters.aws import schema

from .agent import AgentStack
from .common import dexa_function
from .data import DataStack
from .grants import grant_blobs, grant_table
from .integrations import IntegrationsStack

STAGE = "v1"


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
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, ident, **kwargs)
        sm = agent.state_machine
        self.api_fn = dexa_function(
            self,
            "Api",
            name=schema.FN_API,
            layer=agent.layer,
            timeout=cdk.Duration.seconds(29),
            description="Dexa HTTP API (FastAPI via Mangum); SSE is buffered with retry + Last-Event-ID",
            environment={
                schema.ENV_TABLE: data.table.table_name,
                schema.ENV_BUCKET: data.bucket.bucket_name,
                schema.ENV_IDEMPOTENCY_TABLE: data.idempotency_table.table_name,
                schema.ENV_STATE_MACHINE_ARN: sm.state_machine_arn,
                schema.ENV_SCHEDULE_GROUP: integrations.schedule_group.ref,
                schema.ENV_SCHEDULER_ROLE_ARN: integrations.scheduler_role.role_arn,
                schema.ENV_SCHEDULER_TARGET_ARN: integrations.scheduler_fn.function_arn,
            },
        )
        grant_table(self.api_fn, data.table, data.key)
        grant_table(self.api_fn, data.idempotency_table, data.key)
        grant_blobs(self.api_fn, data.bucket, data.key)
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

        self.api = apigw.RestApi(
            self,
            "RestApi",
            description="Dexa API",
            cloud_watch_role=False,
            endpoint_types=[apigw.EndpointType.REGIONAL],
            deploy_options=apigw.StageOptions(
                stage_name=STAGE,
                throttling_rate_limit=rate_limit,
                throttling_burst_limit=burst_limit,
                tracing_enabled=True,
            ),
            default_method_options=apigw.MethodOptions(api_key_required=True),
        )
        backend = apigw.LambdaIntegration(self.api_fn)
        self.api.root.add_method("ANY", backend)
        self.api.root.add_proxy(default_integration=backend, any_method=True)
        # Webhooks authenticate by signature (GitHub, Slack), not by API key.
        hooks = self.api.root.add_resource("webhooks").add_resource("{provider}")
        hooks.add_method("POST", apigw.LambdaIntegration(integrations.webhooks_fn), api_key_required=False)

        plan = self.api.add_usage_plan(
            "DefaultPlan",
            throttle=apigw.ThrottleSettings(rate_limit=rate_limit, burst_limit=burst_limit),
            quota=apigw.QuotaSettings(limit=100_000, period=apigw.Period.DAY),
        )
        plan.add_api_stage(stage=self.api.deployment_stage)
        key = self.api.add_api_key("DefaultKey", description="First Dexa API key; rotate with more keys")
        plan.add_api_key(key)
        cdk.CfnOutput(self, "ApiUrl", value=self.api.url)
        cdk.CfnOutput(self, "ApiKeyId", value=key.key_id)
