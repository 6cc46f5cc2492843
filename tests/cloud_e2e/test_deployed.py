"""The deployed system, emulated on this machine (`make cloud-e2e`): every scenario enters as a client does.

One file on purpose: the deployment is a session fixture, and `--dist loadfile` keeps a file on one worker, so the
whole folder deploys once per run.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest

from .client import ApiClient
from .harness import Cloud
from .provision import NO_OP_TYPES, Provisioner, UnhandledResource

pytestmark = pytest.mark.timeout(600)


# -- the deployment itself ---------------------------------------------------------------------------------------


def test_every_template_resource_exists_in_moto(cloud: Cloud) -> None:
    """Each resource of each synthesized template was created through its own service's API."""
    for stack, types in cloud.deployment.types.items():
        created = cloud.deployment.resources[stack]
        missing = [f"{lid} ({t})" for lid, t in types.items() if t not in NO_OP_TYPES and lid not in created]
        assert not missing, f"{stack}: not created: {missing}"
    # The seven types moto's CloudFormation would have skipped are really there.
    apigw = cloud.client("apigateway")
    (api,) = cloud.deployment.physical(cloud.api_stack, "AWS::ApiGateway::RestApi")
    assert apigw.get_stage(restApiId=api.ref, stageName=cloud.api.stage)["stageName"] == cloud.api.stage
    assert apigw.get_usage_plans()["items"]
    for key in cloud.deployment.physical(cloud.api_stack, "AWS::ApiGateway::ApiKey"):
        assert apigw.get_api_key(apiKey=key.ref)["enabled"]
    assert cloud.client("s3").get_bucket_policy(Bucket=cloud.bucket)["Policy"]
    assert cloud.client("scheduler").list_schedule_groups()["ScheduleGroups"]
    secret = cloud.agent_resource("AWS::SecretsManager::Secret", "AnthropicApiKey")
    assert json.loads(cloud.client("secretsmanager").get_secret_value(SecretId=secret)["SecretString"])["base_url"]
    machine = cloud.client("stepfunctions").describe_state_machine(stateMachineArn=cloud.state_machine_arn)
    assert json.loads(machine["definition"])["States"]


def test_an_unknown_resource_type_fails_the_deployment(cloud: Cloud, tmp_path: Any) -> None:
    template = {"Resources": {"Thing": {"Type": "AWS::Made::Up", "Properties": {}}}}
    (tmp_path / "manifest.json").write_text(
        json.dumps({"artifacts": {"X": {"type": "aws:cloudformation:stack", "dependencies": []}}})
    )
    (tmp_path / "X.template.json").write_text(json.dumps(template))
    with pytest.raises(UnhandledResource, match="AWS::Made::Up"):
        Provisioner(cloud.client, tmp_path).check_handled()


def test_api_keys_are_enforced_by_the_front(cloud: Cloud) -> None:
    import httpx

    no_key = httpx.get(f"{cloud.api.url}/sessions", timeout=10)
    assert no_key.status_code in (401, 403), no_key.text  # the authorizer or the key check refuses it
    unknown = httpx.get(f"{cloud.api.url.rsplit('/', 1)[0]}/nostage/x", timeout=10)
    assert unknown.status_code == 403


# -- scenarios ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def admin(cloud: Cloud) -> ApiClient:
    boot = cloud.bootstrap()
    assert boot["created"], boot
    return ApiClient(cloud.api.url, boot["token"], boot.get("gateway_key"))


def ddb_items(cloud: Cloud, session_id: str) -> list[dict[str, Any]]:
    ddb = cloud.client("dynamodb")
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": cloud.table}
    while True:
        page = ddb.scan(**kwargs)
        items += [i for i in page["Items"] if session_id in json.dumps(i)]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_a_session_runs_a_bash_task_through_the_api(cloud: Cloud, admin: ApiClient) -> None:
    session = admin.create_session("[script:bash_task] write hello.txt", permission_mode="bypassPermissions")
    sid = session["id"]
    events = admin.watch(sid, until="turn.completed", timeout=120)
    types = [e.type for e in events]
    assert "tool.completed" in types or "tool.result" in types, types
    results = [e.data for e in events if e.type in ("tool.completed", "tool.result")]
    assert any("cloud-e2e" in json.dumps(r) for r in results), results
    assert admin.session(sid)["status"] == "idle"
    # The state is in the deployed table, and the execution ran in the deployed state machine.
    assert ddb_items(cloud, sid)
    executions = cloud.client("stepfunctions").list_executions(stateMachineArn=cloud.state_machine_arn)["executions"]
    assert any(sid in e["name"] and e["status"] == "SUCCEEDED" for e in executions), executions
    assert cloud.model_requests("bash_task"), "the model was reached through the secret's base URL"
    # The file is in the session's durable workspace (the Modal volume), not on any Lambda's disk.
    assert workspace(cloud, sid, "hello.txt") == "cloud-e2e\n"


def workspace(cloud: Cloud, session_id: str, name: str) -> str | None:
    assert cloud.modal is not None
    path = cloud.modal.state_dir / "volumes" / f"dexa-ws-{session_id}" / name
    return path.read_text() if path.exists() else None


def execution_of(cloud: Cloud, session_id: str) -> dict[str, Any]:
    sfn = cloud.client("stepfunctions")
    executions = sfn.list_executions(stateMachineArn=cloud.state_machine_arn)["executions"]
    (execution,) = [e for e in executions if session_id in e["name"]]
    return execution


def test_three_read_only_tools_in_one_reply_run_in_the_parallel_map(cloud: Cloud, admin: ApiClient) -> None:
    session = admin.create_session("[script:parallel_reads] look around", permission_mode="bypassPermissions")
    sid = session["id"]
    events = admin.watch(sid, until="turn.completed", timeout=120)
    done = [e for e in events if e.type in ("tool.completed", "tool.result")]
    assert len(done) == 3, [e.type for e in events]
    assert not [e for e in events if e.type in ("turn.failed", "error")], [e.data for e in events]
    assert admin.session(sid)["status"] == "idle"
    execution = execution_of(cloud, sid)
    assert execution["status"] == "SUCCEEDED"
    history = cloud.client("stepfunctions").get_execution_history(executionArn=execution["executionArn"])["events"]
    assert sum(1 for e in history if e["type"] == "MapIterationSucceeded") == 3, {e["type"] for e in history}


def test_a_tool_call_is_approved_through_the_api(cloud: Cloud, admin: ApiClient) -> None:
    sid = admin.create_session("[script:approve] write approved.txt")["id"]
    admin.watch(sid, until="permission.required", timeout=120)
    # The turn is parked on a task token: the execution waits, nothing ran yet.
    assert execution_of(cloud, sid)["status"] == "RUNNING"
    assert workspace(cloud, sid, "approved.txt") is None
    (pending,) = [a for a in admin.ok("GET", f"/sessions/{sid}/approvals")["data"] if a["status"] == "pending"]
    admin.ok("POST", f"/sessions/{sid}/approve", json={"approval_id": pending["id"], "decision": "once"})
    events = admin.watch(sid, until="turn.completed", timeout=120)
    assert "permission.resolved" in [e.type for e in events]
    assert workspace(cloud, sid, "approved.txt") == "approved\n"
    assert admin.session(sid)["result"] == "Approved and written."
    assert wait_execution(cloud, sid) == "SUCCEEDED"


def wait_execution(cloud: Cloud, session_id: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = execution_of(cloud, session_id)["status"]
        if status != "RUNNING":
            return status
        time.sleep(0.5)
    raise AssertionError(f"the execution of {session_id} is still RUNNING after {timeout}s")


@pytest.mark.xfail(
    strict=True,
    reason="product: after cancel the Bash command keeps running in the Modal workspace and writes its file "
    "(the turn ends, but the remote process is not terminated; issue 14 finding 5; helpers A/D)",
)
def test_cancel_during_a_long_bash_stops_the_tool_and_the_turn(cloud: Cloud, admin: ApiClient) -> None:
    sid = admin.create_session("[script:cancel] sleep a while", permission_mode="bypassPermissions")["id"]
    admin.watch(sid, until="tool.started", timeout=120)
    admin.ok("POST", f"/sessions/{sid}/abort")
    events = admin.watch(sid, until="turn.cancelled", timeout=60)
    assert "turn.completed" not in [e.type for e in events]
    assert wait_execution(cloud, sid) != "RUNNING"
    time.sleep(22)  # past the point where the sleep would have finished and written its file
    assert workspace(cloud, sid, "late.txt") is None, "the Bash command ran to completion after cancel"
    session = admin.session(sid)
    assert session["status"] == "idle" and session["turns_completed"] == 0, session
    assert len(cloud.model_requests("cancel")) == 1, "the model was called again after cancel"


@pytest.mark.skipif(
    not os.environ.get("DEXA_E2E_LOAD"),
    reason="load run: set DEXA_E2E_LOAD=1. On 2 cores it takes minutes and API calls reach the 29 s integration "
    "timeout (cold API and step starts are ~1.5 s of CPU each; the turn's ~30 invocations per session queue)",
)
def test_thirty_concurrent_sessions_lose_no_event(cloud: Cloud, admin: ApiClient) -> None:
    """A short load run: 30 sessions whose turns run at the same time; every event reaches the client in order.

    Sessions are created over 6 connections: 30 simultaneous cold starts of the API function need ~60 CPU-seconds,
    which on this 2-core machine runs past API Gateway's 29 s integration timeout (Lambda would scale out).
    """
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=6) as pool:
        sessions = list(pool.map(lambda i: admin.create_session(f"[script:hello] hi #{i}")["id"], range(30)))
    with ThreadPoolExecutor(max_workers=30) as pool:
        streams = list(pool.map(lambda sid: admin.watch(sid, until="turn.completed", timeout=240), sessions))
    for sid, events in zip(sessions, streams, strict=True):
        ids = [e.id for e in events]
        assert ids == list(range(ids[0], ids[0] + len(ids))), f"{sid}: gaps or reordering in {ids}"
        assert [e.type for e in events].count("turn.completed") == 1
        session = admin.session(sid)
        assert session["last_seq"] >= ids[-1] and session["result"] == "Hello from the emulated cloud.", session


def test_a_dead_execution_is_reconciled_and_the_session_does_not_stay_running(cloud: Cloud, admin: ApiClient) -> None:
    sid = admin.create_session("[script:dies] work a bit", permission_mode="bypassPermissions")["id"]
    admin.watch(sid, until="tool.started", timeout=120)
    execution = execution_of(cloud, sid)
    # The execution dies under the turn (an operator stop, a timeout, a service failure look the same).
    cloud.client("stepfunctions").stop_execution(executionArn=execution["executionArn"], error="Died", cause="e2e")
    assert wait_execution(cloud, sid) == "ABORTED"
    events = admin.watch(sid, until="turn.failed", timeout=60)
    assert any(d["event"]["detail"]["executionArn"] == execution["executionArn"] for d in cloud.relay.delivered)
    deadline = time.monotonic() + 30
    while admin.session(sid)["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.5)
    session = admin.session(sid)
    assert session["status"] != "running" and not session["running"], session
    assert "turn.completed" not in [e.type for e in events]


# -- placeholders: scenarios waiting for other parts of issue 14 (strict: they fail loudly once they pass) ---------


def _missing(what: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, reason=f"not built yet: {what}")


@_missing("a code change under shared/dexa, re-synthesized and redeployed, is what the functions run")
def test_a_resynthesized_code_change_is_what_runs(cloud: Cloud) -> None:
    raise NotImplementedError


@_missing("Modal stand-in (helper D): the workspace outlives the sandbox idle timeout; rewind in the remote workspace")
def test_workspace_outlives_idle_timeout_and_rewinds(cloud: Cloud) -> None:
    raise NotImplementedError


@_missing("schedules (helper E2): created through the API, fired by EventBridge Scheduler, run to completion")
def test_a_schedule_fires_and_runs(cloud: Cloud) -> None:
    raise NotImplementedError


@_missing("GitHub webhook (helper E2): an @dexa mention starts a session that opens a PR on the GitHub fake")
def test_github_mention_starts_a_session(cloud: Cloud) -> None:
    raise NotImplementedError


@_missing("Slack (helper E2): approve through a signed Slack interaction")
def test_approve_through_slack(cloud: Cloud) -> None:
    raise NotImplementedError


@_missing("SES (helper E2): approve through an emailed link, mail through SES in moto")
def test_approve_through_an_emailed_link(cloud: Cloud) -> None:
    raise NotImplementedError


@_missing("a step Lambda killed mid-tool is retried and the tool's effect happens once")
def test_a_killed_step_is_retried_once(cloud: Cloud) -> None:
    raise NotImplementedError
