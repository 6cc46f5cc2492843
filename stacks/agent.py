"""Agent stack: the Dexa layer, the agent-step Lambda and the Standard state machine that runs one turn."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from dexa.adapters.aws import asl, schema

from .common import dexa_function, dexa_layer
from .data import DataStack
from .grants import grant_blobs, grant_table

MODEL_SECRET_ENV = "DEXA_ANTHROPIC_SECRET_ARN"
MODAL_SECRET_ENV = "DEXA_MODAL_SECRET_ARN"


class AgentStack(cdk.Stack):
    def __init__(self, scope: Construct, ident: str, *, data: DataStack, **kwargs: Any) -> None:
        super().__init__(scope, ident, **kwargs)
        self.layer = dexa_layer(self)
        # Named, so functions can address the machine without a reference cycle (machine -> function -> machine).
        self.state_machine_name = f"{self.stack_name}-{schema.STATE_MACHINE_SUFFIX}"
        self.state_machine_arn = self.format_arn(
            service="states",
            resource="stateMachine",
            resource_name=self.state_machine_name,
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        self.model_secret = secretsmanager.Secret(
            self, "AnthropicApiKey", description="Anthropic API key (set the value after deploy)"
        )
        self.modal_secret = secretsmanager.Secret(
            self, "ModalToken", description='Modal token as {"token_id": ..., "token_secret": ...}'
        )
        self.step_fn = dexa_function(
            self,
            "AgentStep",
            name=schema.FN_AGENT_STEP,
            timeout=cdk.Duration.minutes(15),
            memory_mb=2048,
            description="Dexa agent step: one durable step of a turn per invocation",
            environment={
                schema.ENV_TABLE: data.table.table_name,
                schema.ENV_BUCKET: data.bucket.bucket_name,
                schema.ENV_STATE_MACHINE_ARN: self.state_machine_arn,
                MODEL_SECRET_ENV: self.model_secret.secret_arn,
                MODAL_SECRET_ENV: self.modal_secret.secret_arn,
            },
        )
        grant_table(self.step_fn, data.table, data.key)
        grant_blobs(self.step_fn, data.bucket, data.key)
        self.model_secret.grant_read(self.step_fn)
        self.modal_secret.grant_read(self.step_fn)
        # Resuming a decision that arrived before its token existed, and continue-as-new for very long turns.
        self.step_fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["states:SendTaskSuccess", "states:SendTaskFailure", "states:StartExecution"],
                resources=[self.state_machine_arn],
            )
        )
        log_group = logs.LogGroup(
            self, "TurnLogs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=cdk.RemovalPolicy.DESTROY
        )
        self.state_machine = sfn.StateMachine(
            self,
            "Turn",
            state_machine_name=self.state_machine_name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(asl.turn_definition_json()),
            definition_substitutions={schema.STEP_FUNCTION_ARN_PLACEHOLDER: self.step_fn.function_arn},
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ERROR, include_execution_data=False),
        )
        self.step_fn.grant_invoke(self.state_machine)
        cdk.CfnOutput(self, "StateMachineArn", value=self.state_machine.state_machine_arn)
