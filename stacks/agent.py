"""Agent stack: the Dexa layer, the agent-step Lambda, the Standard state machine that runs one turn, the reconciler
of dead executions, and the alarms."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from dexa.adapters.aws import asl, schema

from .common import dexa_function, dexa_layer
from .data import DataStack
from .event_stream import web_adapter_layer_arn
from .grants import grant_blobs, grant_table
from .ops import dead_letter_queue, function_alarms, machine_alarms, queue_alarm, reserve_concurrency

MODEL_SECRET_ENV = "DEXA_ANTHROPIC_SECRET_ARN"
MODAL_SECRET_ENV = "DEXA_MODAL_SECRET_ARN"
STEP_CONCURRENCY = 200


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
            description="Dexa agent step: consecutive durable steps of a turn per invocation",
            environment={
                schema.ENV_TABLE: data.table.table_name,
                schema.ENV_BUCKET: data.bucket.bucket_name,
                schema.ENV_STATE_MACHINE_ARN: self.state_machine_arn,
                MODEL_SECRET_ENV: self.model_secret.secret_arn,
                MODAL_SECRET_ENV: self.modal_secret.secret_arn,
                # With the event-stream function deployed, model deltas reach streams live instead of the event log
                # (dynamo_log.py); without it, clients long-poll the log, so deltas stay in it.
                **({schema.ENV_LIVE_DELTAS: "1"} if web_adapter_layer_arn(self) else {}),
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
        # A start that finds the turn's execution name taken asks whether it still runs.
        self.executions_arn = self.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{self.state_machine_name}:*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        self.step_fn.add_to_role_policy(
            iam.PolicyStatement(actions=["states:DescribeExecution"], resources=[self.executions_arn])
        )
        # A cap, so runaway turns cannot take the account's whole concurrency from the API (Step Functions retries a
        # throttled step); `-c dexa:stepConcurrency=N|none`.
        reserve_concurrency(self.step_fn, "dexa:stepConcurrency", STEP_CONCURRENCY)
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
        self.alarms = sns.Topic(self, "Alarms", display_name="Dexa alarms")
        function_alarms(self, "AgentStep", self.step_fn, self.alarms, errors=5)
        machine_alarms(self, self.state_machine, self.alarms)
        self._reconciler(data)
        cdk.CfnOutput(self, "StateMachineArn", value=self.state_machine.state_machine_arn)
        cdk.CfnOutput(self, "AlarmTopicArn", value=self.alarms.topic_arn)

    def _reconciler(self, data: DataStack) -> None:
        """Turns whose execution died outside the machine's Catch end as an error (dexa.adapters.aws.reconcile):
        EventBridge delivers each FAILED/TIMED_OUT/ABORTED status change, and a sweep every 15 minutes catches any
        event that was lost."""
        self.reconciler_fn = dexa_function(
            self,
            "Reconciler",
            name=schema.FN_RECONCILER,
            timeout=cdk.Duration.minutes(5),
            memory_mb=1024,
            description="Dexa reconciler: ends the turns of executions that failed, timed out or were aborted",
            environment={
                schema.ENV_TABLE: data.table.table_name,
                schema.ENV_BUCKET: data.bucket.bucket_name,
                schema.ENV_STATE_MACHINE_ARN: self.state_machine_arn,
            },
        )
        fn = self.reconciler_fn
        grant_table(fn, data.table, data.key)
        grant_blobs(fn, data.bucket, data.key)
        fn.add_to_role_policy(
            iam.PolicyStatement(actions=["states:ListExecutions"], resources=[self.state_machine_arn])
        )
        fn.add_to_role_policy(
            iam.PolicyStatement(actions=["states:DescribeExecution"], resources=[self.executions_arn])
        )
        reserve_concurrency(fn, "dexa:reconcilerConcurrency", 2)
        self.reconciler_dlq = dlq = dead_letter_queue(self, "ReconcilerDlq")
        fn.configure_async_invoke(
            retry_attempts=2, max_event_age=cdk.Duration.hours(6), on_failure=destinations.SqsDestination(dlq)
        )
        self.execution_died = events.Rule(
            self,
            "ExecutionDied",
            description="Turn executions that ended FAILED, TIMED_OUT or ABORTED go to the reconciler",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=[schema.EXECUTION_STATUS_CHANGE],
                detail={"status": list(schema.DEAD_EXECUTION_STATUSES), "stateMachineArn": [self.state_machine_arn]},
            ),
            targets=[
                targets.LambdaFunction(
                    fn, dead_letter_queue=dlq, retry_attempts=8, max_event_age=cdk.Duration.hours(24)
                )
            ],
        )
        events.Rule(
            self,
            "ReconcileSweep",
            description="Catch dead executions whose status change was never delivered",
            schedule=events.Schedule.rate(cdk.Duration.minutes(15)),
            targets=[
                targets.LambdaFunction(
                    fn,
                    event=events.RuleTargetInput.from_object({"sweep": True, "within_s": 3600}),
                    dead_letter_queue=dlq,
                    retry_attempts=2,
                )
            ],
        )
        function_alarms(self, "Reconciler", fn, self.alarms, errors=1)
        queue_alarm(self, "ReconcilerDlqNotEmpty", dlq, self.alarms)
