"""Operations in the synthesized app: asynchronous invokes that dead-letter, error alarms, API access logs and
reserved concurrency, as AWS runs them (Scheduler and SES invoke Lambda asynchronously)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from dexa.adapters.aws import schema


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r["Properties"] for k, r in template["Resources"].items() if r["Type"] == kind}


def _function_id(template: dict[str, Any], prefix: str) -> str:
    (found,) = [k for k in _resources(template, "AWS::Lambda::Function") if re.fullmatch(f"{prefix}[0-9A-F]{{8}}", k)]
    return found


def _queue_id(template: dict[str, Any], prefix: str) -> str:
    (found,) = [k for k in _resources(template, "AWS::SQS::Queue") if k.startswith(prefix)]
    return found


def test_a_failed_scheduled_run_is_retried_then_dead_lettered_with_an_alarm(templates: dict[str, Any]) -> None:
    integrations = templates["DexaIntegrations"]
    scheduler, dlq = _function_id(integrations, "Scheduler"), _queue_id(integrations, "SchedulerDlq")
    configs = _resources(integrations, "AWS::Lambda::EventInvokeConfig").values()
    (config,) = [c for c in configs if c["FunctionName"] == {"Ref": scheduler}]
    assert config["MaximumRetryAttempts"] == 2 and config["MaximumEventAgeInSeconds"] == 3600
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": [dlq, "Arn"]}
    alarms = _resources(integrations, "AWS::CloudWatch::Alarm").values()
    on_queue = [a for a in alarms if a["MetricName"] == "ApproximateNumberOfMessagesVisible"]
    assert any(json.dumps({"Fn::GetAtt": [dlq, "QueueName"]}) in json.dumps(a["Dimensions"]) for a in on_queue)
    # Scheduler itself may put a firing it could not deliver in the same queue (each schedule's DeadLetterConfig).
    role_statements = [
        s
        for name, p in _resources(integrations, "AWS::IAM::Policy").items()
        if name.startswith("SchedulerRole")
        for s in p["PolicyDocument"]["Statement"]
    ]
    sends = [s for s in role_statements if "sqs:SendMessage" in json.dumps(s["Action"])]
    assert sends and all(s["Resource"] == {"Fn::GetAtt": [dlq, "Arn"]} for s in sends), role_statements


def test_schedules_the_api_creates_name_the_dead_letter_queue(templates: dict[str, Any]) -> None:
    api = templates["DexaApi"]
    env = _resources(api, "AWS::Lambda::Function")[_function_id(api, "Api")]["Environment"]["Variables"]
    assert "SchedulerDlq" in json.dumps(env[schema.ENV_SCHEDULER_DLQ_ARN])

    from dexa.adapters.aws.schedules import EventBridgeSchedules
    from dexa.triggers.cron import eventbridge_cron

    dlq = "arn:aws:sqs:us-east-1:123456789012:dlq"
    env = {
        schema.ENV_SCHEDULE_GROUP: "g",
        schema.ENV_SCHEDULER_TARGET_ARN: "arn:aws:lambda:us-east-1:123456789012:function:s",
        schema.ENV_SCHEDULER_ROLE_ARN: "arn:aws:iam::123456789012:role/r",
        schema.ENV_SCHEDULER_DLQ_ARN: dlq,
    }
    request = EventBridgeSchedules.from_env(env, expression=eventbridge_cron, client=object()).request(
        "s1", org_id="o", cron="0 9 * * *", enabled=True
    )
    assert request["Target"]["DeadLetterConfig"] == {"Arn": dlq}


def test_api_webhooks_and_scheduler_errors_raise_alarms_on_the_topic(templates: dict[str, Any]) -> None:
    for stack, prefix in (("DexaApi", "Api"), ("DexaIntegrations", "Webhooks"), ("DexaIntegrations", "Scheduler")):
        template = templates[stack]
        fn = _function_id(template, prefix)
        errors = [
            a
            for a in _resources(template, "AWS::CloudWatch::Alarm").values()
            if a["MetricName"] == "Errors" and a["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": fn}}]
        ]
        assert len(errors) == 1, (stack, prefix)
        assert "Alarms" in json.dumps(errors[0]["AlarmActions"]), errors[0]


def test_the_api_stage_writes_json_access_logs_with_the_account_role(templates: dict[str, Any]) -> None:
    api = templates["DexaApi"]
    (stage,) = _resources(api, "AWS::ApiGateway::Stage").values()
    setting = stage["AccessLogSetting"]
    assert "ApiAccessLogs" in json.dumps(setting["DestinationArn"])
    fields = json.loads(setting["Format"])
    assert {"requestId", "ip", "httpMethod", "resourcePath", "status", "responseLength", "requestTime"} <= set(fields)
    assert fields["status"] == "$context.status" and fields["requestId"] == "$context.requestId"
    (account,) = _resources(api, "AWS::ApiGateway::Account").values()
    role_id = account["CloudWatchRoleArn"]["Fn::GetAtt"][0]
    role = _resources(api, "AWS::IAM::Role")[role_id]
    assert "AmazonAPIGatewayPushToCloudWatchLogs" in json.dumps(role["ManagedPolicyArns"])


def test_the_api_has_reserved_concurrency_and_the_step_a_cap(templates: dict[str, Any]) -> None:
    from stacks.agent import STEP_CONCURRENCY
    from stacks.api import API_CONCURRENCY

    api, agent = templates["DexaApi"], templates["DexaAgent"]
    assert _resources(api, "AWS::Lambda::Function")[_function_id(api, "Api")]["ReservedConcurrentExecutions"] == (
        API_CONCURRENCY
    )
    step = _resources(agent, "AWS::Lambda::Function")[_function_id(agent, "AgentStep")]
    assert step["ReservedConcurrentExecutions"] == STEP_CONCURRENCY
    # Reserving needs account headroom (AWS keeps 10 unreserved): both leave room for the rest of an account.
    assert API_CONCURRENCY + STEP_CONCURRENCY + 2 <= 1000 - 10


@pytest.mark.parametrize(("raw", "expected"), [(None, 100), ("7", 7), ("none", None)])
def test_reserved_concurrency_follows_the_context(raw: str | None, expected: int | None) -> None:
    import aws_cdk as cdk
    from aws_cdk import aws_lambda as lambda_
    from stacks.ops import reserve_concurrency

    app = cdk.App(context={} if raw is None else {"dexa:apiConcurrency": raw})
    stack = cdk.Stack(app, "S")
    fn = lambda_.Function(
        stack, "F", runtime=lambda_.Runtime.PYTHON_3_12, handler="h.h", code=lambda_.Code.from_inline("h=1")
    )
    reserve_concurrency(fn, "dexa:apiConcurrency", 100)
    props = app.synth().get_stack_by_name("S").template["Resources"]
    (resource,) = [r for r in props.values() if r["Type"] == "AWS::Lambda::Function"]
    assert resource["Properties"].get("ReservedConcurrentExecutions") == expected
