"""aws_cdk.assertions over the synthesized stacks, plus cfn-lint and a real `python app.py` synth."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from dexa.adapters.aws import asl, schema
from dexa.adapters.aws.moto_harness import resolve_state_machine

ROOT = Path(__file__).resolve().parents[2]
GetTemplate = Callable[[str], Template]


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def _statements(templates: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for stack, tpl in templates.items():
        for name, policy in _resources(tpl, "AWS::IAM::Policy").items():
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                yield stack, name, statement


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


# ---------------------------------------------------------------- data


def test_table_has_the_adapter_key_schema_gsi_ttl_stream_and_kms(template: GetTemplate) -> None:
    data = template("DexaData")
    data.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [
                {"AttributeName": schema.PK, "KeyType": "HASH"},
                {"AttributeName": schema.SK, "KeyType": "RANGE"},
            ],
            "GlobalSecondaryIndexes": [
                Match.object_like(
                    {
                        "IndexName": schema.GSI1,
                        "KeySchema": [
                            {"AttributeName": schema.GSI1PK, "KeyType": "HASH"},
                            {"AttributeName": schema.GSI1SK, "KeyType": "RANGE"},
                        ],
                    }
                )
            ],
            "TimeToLiveSpecification": {"AttributeName": schema.TTL_ATTRIBUTE, "Enabled": True},
            "StreamSpecification": {"StreamViewType": schema.STREAM_VIEW},
            "BillingMode": "PAY_PER_REQUEST",
            "SSESpecification": Match.object_like({"SSEEnabled": True, "SSEType": "KMS"}),
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        },
    )
    data.has_resource("AWS::DynamoDB::Table", {"DeletionPolicy": "Retain"})
    data.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_blob_bucket_is_private_kms_encrypted_tls_only_with_lifecycle(template: GetTemplate) -> None:
    data = template("DexaData")
    data.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    Match.object_like(
                        {
                            "ServerSideEncryptionByDefault": Match.object_like({"SSEAlgorithm": "aws:kms"}),
                            "BucketKeyEnabled": True,
                        }
                    )
                ]
            },
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "LifecycleConfiguration": {
                "Rules": Match.array_with(
                    [
                        Match.object_like({"AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}),
                        Match.object_like({"Prefix": schema.BLOB_PREFIX}),
                    ]
                )
            },
        },
    )
    data.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            }
        },
    )


# ---------------------------------------------------------------- agent


def test_turn_machine_is_standard_and_its_definition_is_the_asl_builders(templates: dict[str, Any]) -> None:
    machine = next(iter(_resources(templates["DexaAgent"], "AWS::StepFunctions::StateMachine").values()))
    assert machine["Properties"]["StateMachineType"] == "STANDARD"
    (substitution,) = machine["Properties"]["DefinitionSubstitutions"].values()
    step_fn = substitution["Fn::GetAtt"][0]
    assert _resources(templates["DexaAgent"], "AWS::Lambda::Function")[step_fn]["Properties"]["Handler"] == (
        "handler.handler"
    )
    definition, functions = resolve_state_machine(templates["DexaAgent"])
    fake_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{step_fn}"
    assert json.loads(definition) == asl.turn_definition(step_function_arn=fake_arn)
    assert functions == [step_fn]


def test_turn_machine_stays_in_what_moto_can_run_and_step_functions_limits(templates: dict[str, Any]) -> None:
    definition, _ = resolve_state_machine(templates["DexaAgent"])
    assert "JSONata" not in definition and '"Assign"' not in definition and "QueryLanguage" not in definition
    states = json.loads(definition)["States"]["Turn"]["Branches"][0]["States"]
    assert states["WaitForDecision"]["Resource"].endswith("lambda:invoke.waitForTaskToken")
    assert states["WaitForDecision"]["TimeoutSeconds"] == schema.TASK_TOKEN_TIMEOUT_SECONDS
    assert states["RunReadOnlyTools"]["Type"] == "Map" and states["RunReadOnlyTools"]["MaxConcurrency"] <= 40
    retried = {e for r in states["CallModel"]["Retry"] for e in r["ErrorEquals"]}
    assert {"ModelRateLimitError", "ModelUnavailableError", "ConflictError"} <= retried
    assert all(s.get("TimeoutSeconds") for s in states.values() if s["Type"] == "Task")


def test_agent_step_function_runs_on_the_layer_with_the_table_and_machine_wired_in(template: GetTemplate) -> None:
    agent = template("DexaAgent")
    agent.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Runtime": "python3.12",
            "Architectures": ["arm64"],
            "Handler": "handler.handler",
            "Timeout": 900,
            "TracingConfig": {"Mode": "Active"},
            "Layers": [{"Ref": Match.string_like_regexp("DexaLayer")}],
            "Environment": {
                "Variables": Match.object_like(
                    {
                        schema.ENV_TABLE: Match.any_value(),
                        schema.ENV_BUCKET: Match.any_value(),
                        schema.ENV_STATE_MACHINE_ARN: Match.any_value(),
                        "DEXA_STORE": "dynamo",
                        "DEXA_SANDBOX": "modal",
                        "POWERTOOLS_SERVICE_NAME": "dexa",
                    }
                )
            },
        },
    )
    agent.resource_count_is("AWS::Lambda::LayerVersion", 1)
    agent.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "TracingConfiguration": {"Enabled": True},
            "LoggingConfiguration": Match.object_like({"Level": "ERROR", "IncludeExecutionData": False}),
        },
    )


def test_every_function_keeps_dexa_home_in_tmp(templates: dict[str, Any]) -> None:
    functions = [f for t in templates.values() for f in _resources(t, "AWS::Lambda::Function").values()]
    assert functions
    for fn in functions:
        assert fn["Properties"]["Environment"]["Variables"]["DEXA_HOME"] == "/tmp/dexa"


def test_dead_executions_reach_the_reconciler_with_a_dlq_a_sweep_and_alarms(templates: dict[str, Any]) -> None:
    agent = templates["DexaAgent"]
    rules = _resources(agent, "AWS::Events::Rule")
    died = next(r["Properties"] for r in rules.values() if "EventPattern" in r["Properties"])
    pattern = died["EventPattern"]
    assert pattern["source"] == ["aws.states"] and pattern["detail-type"] == [schema.EXECUTION_STATUS_CHANGE]
    assert sorted(pattern["detail"]["status"]) == sorted(schema.DEAD_EXECUTION_STATUSES)
    assert "Turn" in json.dumps(pattern["detail"]["stateMachineArn"]) or "turn" in json.dumps(pattern)
    (target,) = died["Targets"]
    assert "Reconciler" in json.dumps(target["Arn"]) and "DeadLetterConfig" in target
    sweep = next(r["Properties"] for r in rules.values() if "ScheduleExpression" in r["Properties"])
    assert sweep["ScheduleExpression"] == "rate(15 minutes)" and json.loads(sweep["Targets"][0]["Input"])["sweep"]
    functions = _resources(agent, "AWS::Lambda::Function")
    reconciler = next(f for k, f in functions.items() if k.startswith("Reconciler"))
    assert reconciler["Properties"]["ReservedConcurrentExecutions"] == 2
    assert _resources(agent, "AWS::Lambda::EventInvokeConfig")  # its own async failures go to the DLQ too
    alarms = [a["Properties"] for a in _resources(agent, "AWS::CloudWatch::Alarm").values()]
    names = {a.get("MetricName") for a in alarms}
    assert {"Errors", "Throttles", "ExecutionsFailed", "ExecutionsTimedOut"} <= names
    assert "ApproximateNumberOfMessagesVisible" in names
    assert all(a["AlarmActions"] for a in alarms)


def test_the_step_and_the_reconciler_may_describe_the_turn_executions(templates: dict[str, Any]) -> None:
    granted: dict[str, set[str]] = {}
    for stack, name, statement in _statements(templates):
        if stack == "DexaAgent":
            granted.setdefault(name.split("ServiceRole")[0], set()).update(_actions(statement))
    assert "states:DescribeExecution" in granted["AgentStep"]
    assert {"states:DescribeExecution", "states:ListExecutions"} <= granted["Reconciler"]


def test_the_api_and_the_step_reach_the_modal_workspace_with_the_token_secret(templates: dict[str, Any]) -> None:
    """Rewinds and checkpoint listings run in the API function: it needs the Modal token as the step does."""
    readers: set[str] = set()
    for stack, name, statement in _statements(templates):
        resources = json.dumps(statement.get("Resource"))
        if "secretsmanager:GetSecretValue" in _actions(statement) and "ModalToken" in resources:
            readers.add(f"{stack}/{name.split('ServiceRole')[0]}")
    assert {"DexaAgent/AgentStep", "DexaApi/Api"} <= readers, readers
    api_fns = _resources(templates["DexaApi"], "AWS::Lambda::Function")
    api = next(f for k, f in api_fns.items() if k.startswith("Api") and "Stream" not in k)
    assert "ModalToken" in json.dumps(api["Properties"]["Environment"]["Variables"]["DEXA_MODAL_SECRET_ARN"])


# ---------------------------------------------------------------- least privilege


def test_no_policy_scans_deletes_tables_or_grants_wildcard_actions(templates: dict[str, Any]) -> None:
    for stack, name, statement in _statements(templates):
        for action in _actions(statement):
            assert action != "*" and not action.endswith(":*"), (stack, name, action)
            assert action not in ("dynamodb:Scan", "dynamodb:DeleteTable", "s3:DeleteBucket"), (stack, name, action)
            if statement.get("Resource") == "*":
                assert action.split(":")[0] in ("xray", "logs"), (stack, name, action)


def test_only_the_machine_role_may_invoke_the_agent_step(templates: dict[str, Any]) -> None:
    invokers = {(stack, name) for stack, name, s in _statements(templates) if "lambda:InvokeFunction" in _actions(s)}
    assert {stack for stack, _ in invokers} == {"DexaAgent", "DexaIntegrations"}
    agent_invokers = [name for stack, name in invokers if stack == "DexaAgent"]
    assert len(agent_invokers) == 1 and agent_invokers[0].startswith("TurnRole")


def test_task_tokens_and_executions_are_scoped_to_the_turn_machine(templates: dict[str, Any]) -> None:
    for stack, name, statement in _statements(templates):
        states = [a for a in _actions(statement) if a.startswith("states:")]
        if states:
            resource = json.dumps(statement["Resource"])
            assert "turn" in resource.lower() or "Turn" in resource, (stack, name, resource)


def test_api_may_pass_only_the_scheduler_role_and_only_to_scheduler(templates: dict[str, Any]) -> None:
    passes = [s for _, _, s in _statements(templates) if "iam:PassRole" in _actions(s)]
    assert len(passes) == 1
    assert passes[0]["Condition"] == {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}


# ---------------------------------------------------------------- API and integrations


def _method_paths(template: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """{(path, verb): method properties}, paths rebuilt from the Resource tree (`/` for the root)."""
    resources = _resources(template, "AWS::ApiGateway::Resource")

    def path(ref: Any) -> str:
        if not isinstance(ref, dict) or "Ref" not in ref:
            return ""
        res = resources[ref["Ref"]]["Properties"]
        return f"{path(res['ParentId'])}/{res['PathPart']}"

    out: dict[tuple[str, str], dict[str, Any]] = {}
    for method in _resources(template, "AWS::ApiGateway::Method").values():
        props = method["Properties"]
        out[(path(props["ResourceId"]) or "/", props["HttpMethod"])] = props
    return out


def test_every_api_route_is_metered_per_org_through_the_authorizer_and_browser_pages_are_open(
    template: GetTemplate, templates: dict[str, Any]
) -> None:
    api = template("DexaApi")
    api.has_resource_properties("AWS::ApiGateway::RestApi", {"ApiKeySourceType": "AUTHORIZER"})
    api.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "StageName": "v1",
            "TracingEnabled": True,
            "MethodSettings": Match.array_with(
                [Match.object_like({"ThrottlingRateLimit": 1000, "ThrottlingBurstLimit": 2000})]
            ),
        },
    )
    # The limits each org's own key gets; no key is shared (org keys are made with the org, not by the stack).
    api.has_resource_properties(
        "AWS::ApiGateway::UsagePlan",
        {"Throttle": {"RateLimit": 50, "BurstLimit": 100}, "Quota": {"Limit": 100_000, "Period": "DAY"}},
    )
    api.resource_count_is("AWS::ApiGateway::ApiKey", 0)
    assert "UsagePlanId" in templates["DexaApi"]["Outputs"]
    (authorizer,) = _resources(templates["DexaApi"], "AWS::ApiGateway::Authorizer").values()
    assert authorizer["Properties"]["Type"] == "REQUEST"
    assert authorizer["Properties"]["AuthorizerResultTtlInSeconds"] == 0

    methods = _method_paths(templates["DexaApi"])
    public = {k for k, m in methods.items() if m.get("AuthorizationType") == "NONE"}
    assert public == {
        ("/", "GET"),
        ("/health", "GET"),
        ("/ui", "ANY"),
        ("/ui/{proxy+}", "ANY"),
        ("/outputs/review", "GET"),  # an emailed approval link: a plain GET from a mail client
        ("/oauth/callback", "GET"),  # a provider's cross-site redirect: its signed single-use state authenticates
        ("/webhooks/{provider}", "POST"),
        ("/webhooks/tasks/{template_id}", "POST"),  # a task template's webhook, signed with its own secret
        ("/git/{proxy+}", "ANY"),  # a sandbox's clone/push: the git proxy checks the session's own git token
    }
    # git packs pass as binary both ways (and nothing else is declared binary: JSON stays text).
    api.has_resource_properties(
        "AWS::ApiGateway::RestApi",
        {
            "BinaryMediaTypes": [
                "application/x-git-upload-pack-request",
                "application/x-git-upload-pack-result",
                "application/x-git-receive-pack-request",
                "application/x-git-receive-pack-result",
            ]
        },
    )
    for key, m in methods.items():
        if key in public:
            assert not m.get("ApiKeyRequired"), key
        else:
            assert m["AuthorizationType"] == "CUSTOM" and m["ApiKeyRequired"] is True, key
    assert {("/{proxy+}", "ANY"), ("/outputs", "ANY")} <= set(methods) - public
    problems = _resources(templates["DexaApi"], "AWS::ApiGateway::GatewayResponse").values()
    by_type = {g["Properties"]["ResponseType"]: g["Properties"] for g in problems}
    assert {"UNAUTHORIZED", "ACCESS_DENIED", "THROTTLED", "QUOTA_EXCEEDED"} <= set(by_type)
    unauthorized = by_type["UNAUTHORIZED"]
    assert unauthorized["ResponseParameters"]["gatewayresponse.header.Content-Type"] == "'application/problem+json'"
    assert json.loads(unauthorized["ResponseTemplates"]["application/json"])["code"] == "unauthenticated"


def test_scheduler_role_is_assumed_by_eventbridge_scheduler_and_a_group_exists(template: GetTemplate) -> None:
    integ = template("DexaIntegrations")
    integ.resource_count_is("AWS::Scheduler::ScheduleGroup", 1)
    integ.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Statement": [Match.object_like({"Principal": {"Service": "scheduler.amazonaws.com"}})]
            }
        },
    )
    integ.resource_count_is("AWS::Lambda::Function", 2)


def test_every_function_is_a_shim_from_functions_dir(templates: dict[str, Any]) -> None:
    handlers = sorted(p.parent.name for p in (ROOT / "functions").glob("*/handler.py"))
    assert handlers == sorted(
        [schema.FN_API, schema.FN_AGENT_STEP, schema.FN_SCHEDULER, schema.FN_WEBHOOKS, schema.FN_RECONCILER]
    )
    functions = [f for t in templates.values() for f in _resources(t, "AWS::Lambda::Function").values()]
    # Plus the event-stream function (on by default), which runs functions/api_stream/run.sh under the adapter.
    streams = [f for f in functions if f["Properties"]["Handler"] == "run.sh"]
    assert len(streams) == 1 and (ROOT / "functions" / "api_stream" / "run.sh").is_file()
    assert len(functions) == len(handlers) + 1


# ---------------------------------------------------------------- linters and the real entry point


def test_cfn_lint_finds_nothing_but_the_known_cdk_dependson_warning(templates: dict[str, Any], tmp_path: Path) -> None:
    paths = []
    for name, tpl in templates.items():
        path = tmp_path / f"{name}.template.json"
        path.write_text(json.dumps(tpl))
        paths.append(str(path))
    # W3005: CDK adds DependsOn that a GetAtt already implies (aws-modal.md §5); harmless.
    out = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--ignore-checks", "W3005", "--", *paths],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.slow
def test_app_py_synthesizes_every_stack_like_cdk_synth(tmp_path: Path) -> None:
    """The CLI's path (`cdk synth` runs `python app.py`); slow: a fresh jsii process (~10-25 s)."""
    env = {
        **os.environ,
        "CDK_OUTDIR": str(tmp_path),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "CDK_CONTEXT_JSON": json.dumps({"aws:cdk:bundling-stacks": []}),
    }
    out = subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    made = sorted(p.name for p in tmp_path.glob("*.template.json"))
    assert made == [
        "DexaAgent.template.json",
        "DexaApi.template.json",
        "DexaData.template.json",
        "DexaIntegrations.template.json",
    ]
