"""Operations: dead-letter queues, alarms on a topic, reserved concurrency. Small helpers the stacks share.

Only asynchronous invocations can dead-letter (EventBridge targets, async invoke): the agent-step Lambda is called
synchronously by Step Functions, whose Retry/Catch and the reconciler handle its failures, so it gets alarms only.
"""

from __future__ import annotations

from typing import cast

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

FIVE_MINUTES = cdk.Duration.minutes(5)


def dead_letter_queue(scope: Construct, ident: str) -> sqs.Queue:
    return sqs.Queue(
        scope,
        ident,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=cdk.Duration.days(14),
    )


def _alarm(scope: Construct, ident: str, metric: cloudwatch.IMetric, topic: sns.Topic, threshold: float) -> None:
    alarm = cloudwatch.Alarm(
        scope,
        ident,
        metric=metric,
        threshold=threshold,
        evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )
    alarm.add_alarm_action(actions.SnsAction(topic))


def function_alarms(scope: Construct, ident: str, fn: lambda_.Function, topic: sns.Topic, *, errors: int) -> None:
    """Errors (at least `errors` in 5 minutes) and any throttle."""
    _alarm(scope, f"{ident}Errors", fn.metric_errors(period=FIVE_MINUTES, statistic="Sum"), topic, errors)
    _alarm(scope, f"{ident}Throttles", fn.metric_throttles(period=FIVE_MINUTES, statistic="Sum"), topic, 1)


def queue_alarm(scope: Construct, ident: str, queue: sqs.Queue, topic: sns.Topic) -> None:
    """Anything in a dead-letter queue is a lost event someone must look at."""
    metric = queue.metric_approximate_number_of_messages_visible(period=FIVE_MINUTES, statistic="Maximum")
    _alarm(scope, ident, metric, topic, 1)


def machine_alarms(scope: Construct, machine: sfn.StateMachine, topic: sns.Topic) -> None:
    """Executions that failed or timed out (cancels end ABORTED, which is normal)."""
    _alarm(scope, "TurnsFailed", machine.metric_failed(period=FIVE_MINUTES, statistic="Sum"), topic, 1)
    _alarm(scope, "TurnsTimedOut", machine.metric_timed_out(period=FIVE_MINUTES, statistic="Sum"), topic, 1)


def reserve_concurrency(fn: lambda_.Function, context_key: str, default: int | None) -> None:
    """Reserved concurrency from the CDK context (`-c dexa:...Concurrency=N`, "none" for unreserved).

    Reserving needs headroom in the account's limit (AWS keeps 10 unreserved), so only small defaults are used.
    """
    raw = fn.node.try_get_context(context_key)
    value = default if raw is None else (None if str(raw).lower() == "none" else int(raw))
    if value is not None:
        cast(lambda_.CfnFunction, fn.node.default_child).reserved_concurrent_executions = value
