"""The deployed system, emulated on this machine (`make cloud-e2e`): every scenario enters as a client does.

One file on purpose: the deployment is a session fixture, and `--dist loadfile` keeps a file on one worker, so the
whole folder deploys once per run.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
import urllib.parse
from typing import Any

import httpx
import pytest

from .client import ApiClient
from .harness import (
    GITHUB_REPO,
    GITHUB_WEBHOOK_SECRET,
    SLACK_CHANNEL,
    SLACK_SIGNING_SECRET,
    SLACK_TEAM,
    Cloud,
)
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
    # The authorizer refuses it, in the API's own error shape (the stack's gateway responses), not as base64.
    assert no_key.status_code == 401, no_key.text
    assert no_key.headers["content-type"] == "application/problem+json", no_key.headers
    assert no_key.json()["code"] == "unauthenticated", no_key.text
    forged = httpx.get(f"{cloud.api.url}/sessions", headers={"authorization": "Bearer dexa_forged"}, timeout=10)
    assert forged.status_code == 401 and forged.json()["code"] == "unauthenticated", forged.text
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
        # default=repr: the table is shared with the other modules, and some items hold binary attributes (the
        # vault's KMS-sealed grants, {"B": bytes}) that plain json.dumps refuses.
        items += [i for i in page["Items"] if session_id in json.dumps(i, default=repr)]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


# How long a reviewer's notice (Slack post, mail) may take after permission.required: the step announces it after
# the event, with a few store round trips and the Slack or SES call of its own, and on a loaded 2-core machine
# (load average 20-30) one step of the step Lambda took 10-22 s. Waited on as a condition: a quick notice ends it.
ANNOUNCE_S = 120


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


def test_three_read_only_tools_in_one_reply_run_side_by_side(cloud: Cloud, admin: ApiClient) -> None:
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
    # The whole turn ran in the first step invocation (tasks.TaskRunner chains steps): the three calls ran side by
    # side in that Lambda, not as Map items (the Map is the path for a turn handed back to the machine).
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
    assert "RunReadOnlyTools" not in entered and "CallModel" not in entered, entered
    order = [e.type for e in events if e.type in ("tool.started", "tool.completed")]
    assert order.index("tool.completed") > 1, order  # the second call started before the first one finished


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
    # (turns_completed counts ended turns, a cancelled one included: the engine numbers turns on)
    assert session["status"] == "idle" and not session["running"], session
    assert len(cloud.model_requests("cancel")) == 1, "the model was called again after cancel"


def test_thirty_concurrent_sessions_lose_no_event(cloud: Cloud, admin: ApiClient) -> None:
    """A short load run: 30 sessions whose turns run at the same time, each followed by a client on its own live
    event stream; every event reaches its client once and in order, and every session ends with its answer.

    Sessions are created over 3 connections: 30 simultaneous cold starts of the API function need ~60 CPU-seconds,
    which on a 2-core machine runs past API Gateway's 29 s integration timeout (Lambda would scale out). The
    emulator keeps at most 8 containers per function, so 22 of the 30 streams wait for one.
    """
    from concurrent.futures import ThreadPoolExecutor

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=3) as pool:
        sessions = list(pool.map(lambda i: admin.create_session(f"[script:hello] hi #{i}")["id"], range(30)))
    created = time.monotonic() - started
    with ThreadPoolExecutor(max_workers=30) as pool:
        streams = list(pool.map(lambda sid: admin.watch(sid, until="turn.completed", timeout=300), sessions))
    for sid, events in zip(sessions, streams, strict=True):
        ids = [e.id for e in events]
        assert ids == list(range(ids[0], ids[0] + len(ids))), f"{sid}: gaps, repeats or reordering in {ids}"
        assert [e.type for e in events].count("turn.completed") == 1
        session = admin.session(sid)
        assert session["last_seq"] >= ids[-1] and session["result"] == "Hello from the emulated cloud.", session
    print(f"\ncloud-e2e: 30 sessions created in {created:.1f}s, all streamed to turn.completed in "
          f"{time.monotonic() - started:.1f}s")  # fmt: skip


def test_a_dead_execution_is_reconciled_and_the_session_does_not_stay_running(cloud: Cloud, admin: ApiClient) -> None:
    sid = admin.create_session("[script:dies] work a bit", permission_mode="bypassPermissions")["id"]
    admin.watch(sid, until="tool.started", timeout=120)
    execution = execution_of(cloud, sid)
    # The execution dies under the turn (an operator stop, a timeout, a service failure look the same).
    cloud.client("stepfunctions").stop_execution(executionArn=execution["executionArn"], error="Died", cause="e2e")
    assert wait_execution(cloud, sid) == "ABORTED"
    # The relay sees the stopped execution, then invokes the reconciler asynchronously, often cold: a cold container
    # took up to 13 s to become ready at load average 26 on 2 cores (the event-stream function's, measured by the
    # live-delta scenario), and test_iam_integrations waits 120 s for the same.
    events = admin.watch(sid, until="turn.failed", timeout=120)
    assert any(d["event"]["detail"]["executionArn"] == execution["executionArn"] for d in cloud.relay.delivered)
    deadline = time.monotonic() + 30
    while admin.session(sid)["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.5)
    session = admin.session(sid)
    assert session["status"] != "running" and not session["running"], session
    assert "turn.completed" not in [e.type for e in events]


def test_workspace_outlives_idle_timeout_and_rewinds(cloud: Cloud, admin: ApiClient) -> None:
    assert cloud.modal is not None
    sid = admin.create_session("[script:rewind] v1 then v2", permission_mode="bypassPermissions")["id"]
    admin.watch(sid, until="turn.completed", timeout=120)
    assert workspace(cloud, sid, "app.txt") == "v1\n"
    # Modal's idle timeout ends the sandbox; the next turn's Bash runs in a new one on the session's volume.
    assert cloud.modal.expire(name=f"dexa-{sid}")
    after = admin.session(sid)["last_seq"]
    admin.ok("POST", f"/sessions/{sid}/messages", json={"prompt": "now v2"})
    events = admin.watch(sid, until="turn.completed", after=after, timeout=120)
    assert any("workspace_restored" in json.dumps(e.data) for e in events), [e.type for e in events]
    results = [json.dumps(e.data) for e in events if e.type in ("tool.completed", "tool.result")]
    assert any("v1" in r for r in results), results  # the restored workspace still held v1
    assert workspace(cloud, sid, "app.txt") == "v2\n"
    # Rewind through the API (it runs in the API function, which reaches the workspace with the Modal token).
    checkpoints = admin.ok("GET", f"/sessions/{sid}/checkpoints")["data"]
    before_tools = [c for c in reversed(checkpoints) if c.get("reason") == "tool"]
    assert len(before_tools) == 2, checkpoints  # one before each Bash; the second saw v1
    # The checkpoints' file contents are in the deployed bucket (content-addressed blobs).
    assert cloud.client("s3").list_objects_v2(Bucket=cloud.bucket, Prefix="blobs/")["KeyCount"] > 0
    target = before_tools[1]["id"]
    rewound = admin.ok(
        "POST", f"/sessions/{sid}/rewind", json={"checkpoint_id": target, "mode": "code", "on_conflict": "overwrite"}
    )
    assert rewound["checkpoint_id"] == target, rewound
    assert workspace(cloud, sid, "app.txt") == "v1\n"


def test_a_schedule_fires_and_runs(cloud: Cloud, admin: ApiClient) -> None:
    created = admin.ok("POST", "/schedules", json={"cron": "0 9 * * 1-5", "prompt": "[script:scheduled] report"})
    # The API created the EventBridge schedule: weekdays at 09:00 UTC, aimed at the scheduler function.
    group = cloud.deployment.physical(cloud.stack("Integrations"), "AWS::Scheduler::ScheduleGroup")[0].ref
    schedule = cloud.client("scheduler").get_schedule(Name=created["id"], GroupName=group)
    assert schedule["ScheduleExpression"] == "cron(0 9 ? * 2,3,4,5,6 *)", schedule["ScheduleExpression"]
    fired = cloud.fire_schedule(created["id"], when="2020-01-06T09:00:00Z")
    assert fired["status"] == "started", fired
    sid = fired["session_id"]
    events = admin.watch(sid, until="turn.completed", timeout=120)
    assert "turn.failed" not in [e.type for e in events]
    session = admin.session(sid)
    assert session["status"] == "idle" and session["result"] == "Scheduled report done.", session
    assert wait_execution(cloud, sid) == "SUCCEEDED"
    # Scheduler retries a firing it thinks failed: the same scheduled time does not start a second run.
    again = cloud.fire_schedule(created["id"], when="2020-01-06T09:00:00Z")
    assert again.get("session_id") == sid and again["status"] != "started", again


def test_a_tool_call_is_approved_through_an_emailed_link(cloud: Cloud, admin: ApiClient) -> None:
    import re
    from urllib.parse import unquote

    reviewer = "reviewer@e2e.example"
    admin.ok("PUT", "/review-channels", json={"emails": [reviewer]})
    sid = admin.create_session("[script:approve_mail] write mailed.txt")["id"]
    admin.watch(sid, until="permission.required", timeout=120)
    deadline = time.monotonic() + ANNOUNCE_S
    mails: list[dict[str, Any]] = []
    while not mails and time.monotonic() < deadline:
        mails = [m for m in cloud.sent_mail() if reviewer in json.dumps(m["destinations"]) and sid in m["body"]]
        time.sleep(0.3)
    assert mails, f"no mail to {reviewer} about {sid}: {cloud.sent_mail()}"
    (mail,) = mails  # announced once
    links = re.findall(r"(https?://[^\s\"'<>]+/outputs/review\?token=)([^\s\"'<>&]+)", mail["body"])
    assert links, mail["body"]
    # The link points where clients reach the API (the public URL parameter), and its page is open to browsers.
    base, token = links[0][0], unquote(links[0][1])
    assert base.startswith(cloud.api.url), (base, cloud.api.url)
    import httpx

    page = httpx.get(f"{base}{links[0][1]}", timeout=30)  # no API key: a browser's first request
    assert page.status_code == 307 and "/ui/review?token=" in page.headers["location"], page.text[:500]
    assert workspace(cloud, sid, "mailed.txt") is None
    # The reviewer opens it signed in, and approves (what the review page posts).
    admin.ok("POST", "/approval-links/redeem", json={"token": token})
    events = admin.watch(sid, until="turn.completed", timeout=120)
    assert "permission.resolved" in [e.type for e in events]
    assert workspace(cloud, sid, "mailed.txt") == "mailed\n"
    assert wait_execution(cloud, sid) == "SUCCEEDED"
    # Single use: the same link cannot decide again.
    again = admin.request("POST", "/approval-links/redeem", json={"token": token})
    assert again.status_code in (404, 409), again.text


def test_a_resynthesized_code_change_is_what_runs(cloud: Cloud, admin: ApiClient, tmp_path: Any) -> None:
    """A one-line change under shared/dexa, in a copy of the tree, re-synthesized (only the layer's dexa package is
    rebuilt: the dependencies are cached by the lock's hash) and deployed as a code update: the API function then
    answers with the changed code."""
    import shutil
    import subprocess
    import uuid

    from .synth import INPUTS, ROOT, synthesize

    before = admin.ok("GET", "/health")["version"]
    copy = tmp_path / "tree"
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "--", *INPUTS, ".gitignore", "README.md"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for rel in listed:
        if (ROOT / rel).is_file():
            (copy / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, copy / rel)
    subprocess.run(["git", "init", "-q"], cwd=copy, check=True)
    (copy / ".tools").symlink_to(ROOT / ".tools")  # the layer build's uv (tools, not an input of the assembly)
    marker = f"e2e-{uuid.uuid4().hex[:8]}"
    app = copy / "shared" / "dexa" / "api" / "app.py"
    text = app.read_text()
    assert "    return __version__\n" in text
    app.write_text(text.replace("    return __version__\n", f'    return __version__ + "+{marker}"\n', 1))
    started = time.monotonic()
    cdk_out = synthesize(copy, log=tmp_path / "synth.log")
    synth_seconds = time.monotonic() - started
    replaced = cloud.update_code(cdk_out)
    assert replaced, "the changed tree gave the same layer asset"
    after = admin.ok("GET", "/health")["version"]
    assert before == after.removesuffix(f"+{marker}") and after.endswith(marker), (before, after, synth_seconds)
    print(f"\ncloud-e2e: re-synthesized a one-line change in {synth_seconds:.1f}s")


def github_delivery(cloud: Cloud, event: str, payload: dict[str, Any], *, delivery: str, secret: str) -> httpx.Response:
    """What GitHub sends for a webhook: the event and delivery headers, HMAC-SHA256 of the raw body."""
    body = json.dumps(payload).encode()
    headers = {
        "content-type": "application/json",
        "x-github-event": event,
        "x-github-delivery": delivery,
        "x-hub-signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
    }
    return httpx.post(f"{cloud.api.url}/webhooks/github", content=body, headers=headers, timeout=35)


def test_github_mention_starts_a_session(cloud: Cloud, admin: ApiClient) -> None:
    """An `@dexa` comment on a linked repo starts a session as the org's configured user; it clones the repo
    through the git proxy into its Modal workspace, fixes the file, and opens a pull request on GitHub."""
    import subprocess
    import uuid

    me = admin.ok("GET", "/me")
    admin.ok("PUT", "/triggers/github", json={"run_as": me["user_id"], "repos": [GITHUB_REPO]})
    owner, name = GITHUB_REPO.split("/")
    payload = {
        "action": "created",
        "issue": {"number": 7, "title": "Greeting is wrong", "html_url": f"https://github.com/{GITHUB_REPO}/issues/7",
                  "body": "It says wrld.", "user": {"login": "mona", "type": "User"}},
        "comment": {"id": 1001, "body": "@dexa [script:github_pr] please fix the greeting",
                    "user": {"login": "mona", "type": "User"}, "author_association": "MEMBER"},
        "repository": {"full_name": GITHUB_REPO, "name": name, "owner": {"login": owner}, "default_branch": "main"},
        "sender": {"login": "mona", "type": "User"},
    }  # fmt: skip
    delivery = str(uuid.uuid4())
    forged = github_delivery(cloud, "issue_comment", payload, delivery=delivery, secret="not-the-secret")
    assert forged.status_code == 401, forged.text
    started = github_delivery(cloud, "issue_comment", payload, delivery=delivery, secret=GITHUB_WEBHOOK_SECRET)
    assert started.status_code == 202 and started.json()["status"] == "started", started.text
    sid = started.json()["session_id"]
    # GitHub redelivers on a timeout: the same delivery starts nothing more.
    again = github_delivery(cloud, "issue_comment", payload, delivery=delivery, secret=GITHUB_WEBHOOK_SECRET)
    assert again.json()["status"] == "duplicate", again.text

    events = admin.watch(sid, until="turn.completed", timeout=240)
    failed = [e.data for e in events if e.type in ("turn.failed", "error", "permission.denied")]
    assert not failed, failed
    session = admin.session(sid)
    assert session["status"] == "idle" and session["result"] == "Opened a pull request that fixes the greeting."
    assert wait_execution(cloud, sid) == "SUCCEEDED"
    state = cloud.github_state()
    # The repository is shared with the other modules' sessions (test_aws_semantics opens pull requests on it too):
    # this session's is the one whose branch carries its id.
    (pull,) = [p for p in state["pulls"][GITHUB_REPO] if sid.removeprefix("ses_")[:8] in p["head"]["ref"]]
    assert pull["title"] == "Fix the greeting" and pull["base"]["ref"] == "main", pull
    assert pull["head"]["ref"].startswith("dexa/"), pull
    # The pushed branch holds the fix (read from the stand-in's bare repository, as GitHub would show it).
    bare = cloud.github_root / f"{GITHUB_REPO}.git"
    shown = subprocess.run(
        ["git", "--git-dir", str(bare), "show", f"{pull['head']['ref']}:greeting.txt"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout == "hello world\n"
    # The mention was acknowledged on the issue, linking the session.
    assert any(c["issue_number"] == 7 and "On it, @mona" in c["body"] for c in state["comments"]), state["comments"]


def slack_click(
    cloud: Cloud, button: dict[str, Any], *, slack_user: str, signing_secret: str, team: str = SLACK_TEAM
) -> httpx.Response:
    """What Slack sends when `slack_user` clicks `button`: a block_actions payload, form-encoded, signed v0 with the
    app's signing secret over the timestamp and the raw body, through the public webhook route."""
    payload = {
        "type": "block_actions",
        "team": {"id": team},
        "user": {"id": slack_user, "team_id": team},
        "response_url": f"{cloud.slack.url}/actions/{slack_user}",
        "actions": [{"type": "button", "action_id": button["action_id"], "value": button["value"]}],
    }
    body = "payload=" + urllib.parse.quote(json.dumps(payload))
    timestamp = str(int(time.time()))
    digest = hmac.new(signing_secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": timestamp,
        "x-slack-signature": f"v0={digest}",
    }
    return httpx.post(f"{cloud.api.url}/webhooks/slack", content=body, headers=headers, timeout=35)


def test_approve_through_slack(cloud: Cloud, admin: ApiClient) -> None:
    """The step Lambda posts Approve/Reject buttons to the org's review channel; a click, signed by Slack, decides
    only when the clicking Slack user is mapped to a Dexa user who may approve; the turn then continues."""
    reviewer = admin.ok("POST", "/users", json={"name": "rita", "role": "reviewer"})
    admin.ok("PUT", "/review-channels", json={"slack_team": SLACK_TEAM, "slack_channel": SLACK_CHANNEL})
    admin.ok("PUT", "/slack-users", json={"slack_user": "U0RITA", "user_id": reviewer["id"]})
    sid = admin.create_session("[script:approve_slack] write slacked.txt")["id"]
    admin.watch(sid, until="permission.required", timeout=120)
    deadline = time.monotonic() + ANNOUNCE_S
    posts: list[dict[str, Any]] = []
    while not posts and time.monotonic() < deadline:
        posts = [p for p in cloud.slack_seen("posts") if sid in json.dumps(p)]
        time.sleep(0.3)
    assert posts, f"no approval request for {sid} in Slack: {cloud.slack_seen('posts')}"
    (post,) = posts  # announced once
    assert post["channel"] == SLACK_CHANNEL, post
    buttons = {b["action_id"]: b for block in post["blocks"] for b in block.get("elements", [])}
    approve = buttons["dexa_approve"]
    assert json.loads(approve["value"])["session_id"] == sid

    # Forged or stale requests are refused before anything is read.
    forged = slack_click(cloud, approve, slack_user="U0RITA", signing_secret="not-the-secret")
    assert forged.status_code == 401, forged.text
    # A Slack user no one mapped: an ephemeral refusal (through the response_url), and nothing is decided.
    stranger = slack_click(cloud, approve, slack_user="U0STRANGER", signing_secret=SLACK_SIGNING_SECRET)
    assert stranger.status_code == 200, stranger.text
    assert stranger.json()["response_type"] == "ephemeral" and "not a Dexa reviewer" in stranger.json()["text"]
    refusals = [r for r in cloud.slack_seen("responses") if r["path"] == "/actions/U0STRANGER"]
    assert refusals and refusals[-1]["replace_original"] is False, refusals
    (pending,) = admin.ok("GET", f"/sessions/{sid}/approvals")["data"]
    assert pending["status"] == "pending" and execution_of(cloud, sid)["status"] == "RUNNING"
    assert workspace(cloud, sid, "slacked.txt") is None

    # The mapped reviewer decides; the parked execution resumes and the tool runs.
    decided = slack_click(cloud, approve, slack_user="U0RITA", signing_secret=SLACK_SIGNING_SECRET)
    assert decided.status_code == 200 and decided.json()["replace_original"] is True, decided.text
    events = admin.watch(sid, until="turn.completed", timeout=120)
    assert "permission.resolved" in [e.type for e in events]
    assert workspace(cloud, sid, "slacked.txt") == "slacked\n"
    assert admin.session(sid)["result"] == "Approved in Slack, written."
    (approval,) = admin.ok("GET", f"/sessions/{sid}/approvals")["data"]
    assert approval["decided_by"] == reviewer["id"], approval
    assert wait_execution(cloud, sid) == "SUCCEEDED"
    # A second click is too late: the decision is made once.
    again = slack_click(cloud, approve, slack_user="U0RITA", signing_secret=SLACK_SIGNING_SECRET)
    assert again.status_code == 200 and "Already decided" in again.json()["text"], again.text


def step_function_name(cloud: Cloud) -> str:
    machine = cloud.client("stepfunctions").describe_state_machine(stateMachineArn=cloud.state_machine_arn)
    # BeginTurn's target (inside the top-level Parallel that catches failures): the one agent-step function.
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            begin = node.get("BeginTurn")
            if isinstance(begin, dict):
                found.append(begin["Parameters"]["FunctionName"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(machine["definition"]))
    assert found, machine["definition"][:2000]
    return found[0].rsplit(":", 1)[-1]


def test_a_killed_step_is_retried_once(cloud: Cloud, admin: ApiClient) -> None:
    """The step Lambda dies mid-tool (its runtime killed, as an out-of-memory kill does); Step Functions retries the
    step, and the retry picks up the command's journaled job on the volume instead of running it again."""
    sid = admin.create_session("[script:killed_step] append a line", permission_mode="bypassPermissions")["id"]
    # The command has started in the Modal workspace: kill the step Lambda waiting on it.
    killed = cloud.emulator.kill_when(
        step_function_name(cloud), lambda: workspace(cloud, sid, "started.txt") is not None
    )
    events = admin.watch(sid, until="turn.completed", timeout=180)
    assert killed.is_set(), "the step Lambda was never killed mid-tool"
    assert not [e for e in events if e.type in ("turn.failed", "error")], [e.data for e in events]
    assert wait_execution(cloud, sid) == "SUCCEEDED"
    history = cloud.client("stepfunctions").get_execution_history(executionArn=execution_of(cloud, sid)["executionArn"])
    failed = [e["taskFailedEventDetails"] for e in history["events"] if e["type"] == "TaskFailed"]
    assert [f["error"] for f in failed] == ["Runtime.ExitError"], failed
    assert "signal: killed" in failed[0]["cause"], failed
    # Exactly once: the command neither ran twice nor was lost.
    assert workspace(cloud, sid, "started.txt") == "start\n"
    assert workspace(cloud, sid, "once.txt") == "line\n"
    assert len([e for e in events if e.type in ("tool.completed", "tool.result")]) == 1, [e.type for e in events]


def delta_latencies(sent: list[dict[str, Any]], live: list[Any]) -> tuple[list[float], int]:
    """Seconds from the model sending a delta to the client reading it, per live frame, and how many sent deltas
    the frames covered. The step may coalesce deltas that arrive within 50 ms into one frame: such a frame is timed
    from its last piece."""
    latencies: list[float] = []
    covered = 0
    i = 0
    for frame in live:
        text = str((frame.data.get("data") or {}).get("text", ""))  # a live frame is the whole event
        if not text:
            continue
        for start in range(i, len(sent)):
            joined, end = "", start
            while end < len(sent) and len(joined) < len(text):
                joined += sent[end]["text"]
                end += 1
            if joined == text:
                latencies.append(frame.received - sent[end - 1]["at"])
                covered += end - start
                i = end
                break
    return latencies, covered


def test_model_deltas_reach_a_connected_client_live(cloud: Cloud, admin: ApiClient) -> None:
    """True push, end to end: the client holds one streamed GET through the API front (a STREAM integration) to the
    event-stream function (the app under uvicorn behind the Lambda Web Adapter, emulated); the step Lambda writes
    each model delta as a LIVE# item; the stream pushes it. Measured from the model server writing the delta to the
    client reading its frame: the issue's target is p95 <= 200 ms."""
    import statistics
    import threading

    sid = admin.create_session("[script:live_deltas] warm up", permission_mode="bypassPermissions")["id"]
    admin.watch(sid, until="turn.completed", timeout=120)
    after = admin.session(sid)["last_seq"]
    viewer = ApiClient(admin.base_url, admin.token, admin.gateway_key)
    seen: dict[str, Any] = {}

    def follow() -> None:
        seen["events"] = viewer.watch(sid, until="turn.completed", after=after, timeout=240)

    watcher = threading.Thread(target=follow, daemon=True)
    watcher.start()
    assert viewer.connected.wait(120), "the event stream never answered"
    started = time.time()
    admin.ok("POST", f"/sessions/{sid}/messages", json={"prompt": "go"})
    watcher.join(260)
    assert "events" in seen, "the stream never delivered turn.completed"
    events = seen["events"]
    ids = [e.id for e in events]
    assert ids == list(range(after + 1, after + 1 + len(ids))), ids  # the log's events, none lost on the stream
    finals = [e for e in events if e.type == "message.assistant"]
    assert len(finals) == 9, [e.type for e in events]
    sent = [s for s in cloud.model_sent("live_deltas") if s["at"] >= started]
    live = [e for e in viewer.live if e.type == "message.delta"]
    assert live and all(e.data.get("live") for e in live)
    found, covered = delta_latencies(sent, live)
    latencies = sorted(found)
    # Every delta the model sent after the client connected reached it live.
    assert covered == len(sent) >= 24, (covered, len(sent), [e.data for e in live][:5])
    p50 = statistics.median(latencies)
    p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
    print(
        f"\ncloud-e2e: live deltas, model send -> client frame: n={len(latencies)} p50 {p50 * 1000:.0f} ms "
        f"p95 {p95 * 1000:.0f} ms max {latencies[-1] * 1000:.0f} ms"
    )
    # Each event-stream container's spawn -> ready (its adapter's first Runtime API poll, after /health answered):
    # the server answers the check itself and builds the runtime behind it (was ~2.25 s idle while it built first).
    ready = sorted(s for name, secs in cloud.emulator.stats.init_seconds.items() if "ApiStream" in name for s in secs)
    if ready:
        print(
            f"cloud-e2e: event-stream spawn -> ready n={len(ready)} p50 {statistics.median(ready) * 1000:.0f} ms "
            f"max {ready[-1] * 1000:.0f} ms (load {os.getloadavg()[0]:.1f})"
        )
    # The target is 200 ms. Measured on 2 shared cores: p50 ~100 ms / p95 ~190 ms with this test alone, p50 270-360
    # ms / p95 560-770 ms beside other runs or inside the whole folder. The figure measures the machine as much as
    # the stream, and a load average gate read after the fact misses the burst that slowed it: so by default only
    # the function is asserted (every delta arrived live, above), and DEXA_E2E_DELTA_P95_S=0.2 asserts the target
    # (a benchmark run on a quiet machine).
    target = os.environ.get("DEXA_E2E_DELTA_P95_S")
    if target is not None:
        assert p95 <= float(target), (
            f"p95 {p95 * 1000:.0f} ms > {float(target) * 1000:.0f} ms (p50 {p50 * 1000:.0f} ms)"
        )


def test_warm_per_step_overhead(cloud: Cloud, admin: ApiClient) -> None:
    """Issue 14 item 4: a typical turn (10 tool calls over 4 replies, 1 approval), measured from the step Lambda's
    step_timing lines and the stored events (overhead.py). The turn runs twice, the first meeting any cold
    container; only warm steps of the second count."""
    from .overhead import percentile, step_overheads, step_timings, stored_events

    sid = ""
    for _ in range(2):
        sid = admin.create_session("[script:typical_turn] look, write, check")["id"]
        admin.watch(sid, until="permission.required", timeout=240)
        pending = [a for a in admin.ok("GET", f"/sessions/{sid}/approvals")["data"] if a["status"] == "pending"]
        admin.ok("POST", f"/sessions/{sid}/approve", json={"approval_id": pending[0]["id"], "decision": "once"})
        admin.watch(sid, until="turn.completed", timeout=240)
    timings = [t for t in step_timings(cloud) if t["session_id"] == sid]
    warm = [sec for _step, sec, cold in step_overheads(timings, stored_events(cloud, sid)) if not cold]
    # The step's own store round trips, the cancel watch's polls (which grow with the step's duration) left out.
    trips = [int(t.get("ddb_calls", 0)) - int(t.get("ddb_polls", 0)) for t in timings if not t["cold"]]
    assert len(warm) >= 10, (len(warm), [t["step"] for t in timings])
    p50, p95 = percentile(warm, 0.5), percentile(warm, 0.95)
    print(
        f"\ncloud-e2e: warm per-step overhead n={len(warm)} p50 {p50 * 1000:.0f} ms p95 {p95 * 1000:.0f} ms; "
        f"DynamoDB round trips per step p50 {percentile([float(t) for t in trips], 0.5):.0f}"
    )
    # What a step costs in store round trips does not depend on the machine: p50 18 per step (polls included)
    # before the warm caches and conditional writes, 11 after (issue 14 item 4).
    assert percentile([float(t) for t in trips], 0.5) <= 12, trips
    # The time does: a round trip to the moto server costs tens of ms once the machine is busy (measured p50
    # 570-790 ms per step at a load average of 7 per core, 2.4 s at 11). So it is printed, and asserted only on
    # request, as a benchmark: DEXA_E2E_STEP_P50_S=0.15 asserts the 150 ms target (benchmarks/cloud_e2e.py measures
    # the same figure over several turns).
    target = os.environ.get("DEXA_E2E_STEP_P50_S")
    if target is not None:
        assert p50 <= float(target), (
            f"p50 {p50 * 1000:.0f} ms > {float(target) * 1000:.0f} ms (p95 {p95 * 1000:.0f} ms)"
        )
