"""Integrations stack: webhook receivers (GitHub, Slack approval buttons and events, SES inbound mail) and scheduled
automations."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from dexa.adapters.aws import schema

from .agent import AgentStack
from .common import dexa_function
from .data import DataStack
from .grants import grant_blobs, grant_table
from .inbound_mail import add_inbound_mail
from .ops import dead_letter_queue, function_alarms, queue_alarm

SLACK_SECRET_ENV = "DEXA_SLACK_SIGNING_SECRET_ARN"
GITHUB_SECRET_ENV = "DEXA_GITHUB_WEBHOOK_SECRET_ARN"


class IntegrationsStack(cdk.Stack):
    def __init__(self, scope: Construct, ident: str, *, data: DataStack, agent: AgentStack, **kwargs: Any) -> None:
        super().__init__(scope, ident, **kwargs)
        self.slack_secret = secretsmanager.Secret(self, "SlackSigningSecret", description="Slack app signing secret")
        self.github_secret = secretsmanager.Secret(self, "GithubWebhookSecret", description="GitHub webhook secret")
        common_env = {
            schema.ENV_TABLE: data.table.table_name,
            schema.ENV_BUCKET: data.bucket.bucket_name,
            schema.ENV_STATE_MACHINE_ARN: agent.state_machine.state_machine_arn,
        }
        self.webhooks_fn = dexa_function(
            self,
            "Webhooks",
            name=schema.FN_WEBHOOKS,
            timeout=cdk.Duration.seconds(29),
            environment={
                **common_env,
                SLACK_SECRET_ENV: self.slack_secret.secret_arn,
                GITHUB_SECRET_ENV: self.github_secret.secret_arn,
            },
        )
        self.scheduler_fn = dexa_function(
            self,
            "Scheduler",
            name=schema.FN_SCHEDULER,
            timeout=cdk.Duration.minutes(1),
            environment=common_env,
        )
        for fn in (self.webhooks_fn, self.scheduler_fn):
            grant_table(fn, data.table, data.key)
            # Both write sessions and events, whose payloads over the item limit overflow to the bucket.
            grant_blobs(fn, data.bucket, data.key, write=True)
            agent.state_machine.grant_start_execution(fn)
        agent.state_machine.grant_task_response(self.webhooks_fn)
        self.slack_secret.grant_read(self.webhooks_fn)
        self.github_secret.grant_read(self.webhooks_fn)
        # Mail to an org's address starts sessions, when -c dexa:inboundMailDomain names the domain.
        self.inbound_mail = add_inbound_mail(self, webhooks_fn=self.webhooks_fn, alarms=agent.alarms)

        self.schedule_group = scheduler.CfnScheduleGroup(self, "Automations", name=f"{self.stack_name}-automations")
        # The role EventBridge Scheduler assumes to invoke the scheduler function, and nothing else.
        self.scheduler_role = iam.Role(
            self,
            "SchedulerRole",
            assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com"),
            description="EventBridge Scheduler -> Dexa scheduler function",
        )
        self.scheduler_fn.grant_invoke(self.scheduler_role)
        # Scheduler invokes asynchronously: a failed run is retried by Lambda (twice, as AWS does by default, but
        # said here), then kept in the queue; a firing Scheduler itself could not deliver goes to the same queue
        # (each schedule's DeadLetterConfig, dexa.adapters.aws.schedules). Either way a run was lost: alarm.
        self.scheduler_dlq = dead_letter_queue(self, "SchedulerDlq")
        self.scheduler_fn.configure_async_invoke(
            retry_attempts=2,
            max_event_age=cdk.Duration.hours(1),
            on_failure=destinations.SqsDestination(self.scheduler_dlq),
        )
        self.scheduler_dlq.grant_send_messages(self.scheduler_role)
        queue_alarm(self, "SchedulerDlqNotEmpty", self.scheduler_dlq, agent.alarms)
        function_alarms(self, "Scheduler", self.scheduler_fn, agent.alarms, errors=1)
        function_alarms(self, "Webhooks", self.webhooks_fn, agent.alarms, errors=5)
        cdk.CfnOutput(self, "ScheduleGroup", value=self.schedule_group.ref)
