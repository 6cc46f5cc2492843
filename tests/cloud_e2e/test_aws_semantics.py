"""Where AWS is less kind than a plain emulation: the Lambda image has no git (the git proxy's force-push check
runs on the API function all the same), and EventBridge Scheduler invokes Lambda asynchronously (a failed start is
retried by Lambda, and a run that keeps failing lands in the dead-letter queue the stack configures).

These scenarios share the folder's deployment and bring an org of their own (`dexa cloud add-org`).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .client import ApiClient, Event
from .harness import GITHUB_REPO, Cloud
from .lambda_image import mask_args
from .test_browser_front import add_org

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def admin(cloud: Cloud) -> ApiClient:
    org = add_org(cloud, "aws-semantics")
    return ApiClient(cloud.api.url, org["token"])


def payload(event: Event) -> dict[str, Any]:
    """The event's own data (the live stream sends the whole event, the buffered route its data)."""
    data = event.data
    return data["data"] if {"seq", "type", "data"} <= set(data) else data


def completed(events: list[Event], name: str) -> list[dict[str, Any]]:
    return [payload(e) for e in events if e.type == "tool.completed" and payload(e).get("name") == name]


def executions(cloud: Cloud, session_id: str) -> list[dict[str, Any]]:
    sfn = cloud.client("stepfunctions")
    return [
        e for e in sfn.list_executions(stateMachineArn=cloud.state_machine_arn)["executions"] if session_id in e["name"]
    ]


def scheduler_dlq(cloud: Cloud) -> str:
    stack = cloud.stack("Integrations")
    (url,) = [
        cloud.deployment.resources[stack][lid].ref
        for lid, t in cloud.deployment.types[stack].items()
        if t == "AWS::SQS::Queue" and lid.startswith("SchedulerDlq")
    ]
    return url


def test_the_lambda_image_hides_git_bwrap_and_rg(tmp_path: Path) -> None:
    """The containers' /usr is the host's: the tools AWS's Python runtime lacks are masked there."""
    probe = "for t in git bwrap rg git-upload-pack; do command -v $t || echo no-$t; done; ls /usr/lib/git-core | wc -l"
    argv = ["bwrap", "--ro-bind", "/usr", "/usr", *mask_args(tmp_path / "empty")]
    argv += ["--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64"]
    argv += ["--proc", "/proc", "--dev", "/dev", "/bin/sh", "-c", probe]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["no-git", "no-bwrap", "no-rg", "no-git-upload-pack", "0"], out.stdout


def test_a_force_push_is_refused_by_the_proxy_on_the_api_function(cloud: Cloud, admin: ApiClient) -> None:
    """A session on the GitHub repo pushes its fix and opens a PR through the git proxy (served by the API
    function, which has no git binary), then amends the pushed commit and pushes again: the proxy refuses the
    non-fast-forward update, and the branch on GitHub keeps the first push."""
    sid = admin.create_session(
        "[script:force_push] fix the greeting, then rewrite it",
        permission_mode="bypassPermissions",
        sources=[f"github:{GITHUB_REPO}"],
    )["id"]
    events = admin.watch(sid, until="turn.completed", timeout=300)
    assert not [e.data for e in events if e.type in ("turn.failed", "error")], [e.type for e in events]
    pushes = completed(events, "OpenPullRequests")
    assert len(pushes) == 2, [(e.type, payload(e)) for e in events if e.type.startswith("tool")]
    first, second = pushes
    assert not first["is_error"], first
    assert second["is_error"] and "non-fast-forward" in second["content"], second
    (_, amend) = completed(events, "Bash")
    assert "rewritten history" in amend["content"], amend  # the rewrite happened in the workspace
    (pull,) = [
        p for p in cloud.github_state()["pulls"][GITHUB_REPO] if sid.removeprefix("ses_")[:8] in p["head"]["ref"]
    ]
    bare = cloud.github_root / f"{GITHUB_REPO}.git"

    def shown(*args: str) -> str:
        run = subprocess.run(["git", "--git-dir", str(bare), *args], capture_output=True, text=True, check=True)
        return run.stdout

    branch = pull["head"]["ref"]
    assert shown("show", f"{branch}:greeting.txt") == "hello world\n"
    assert shown("log", "-1", "--format=%s", branch).strip() != "rewritten history"
    assert admin.session(sid)["result"] == "The proxy refused to rewrite the pushed branch."


def test_a_scheduled_run_whose_first_start_fails_runs_exactly_once(cloud: Cloud, admin: ApiClient) -> None:
    """Scheduler's event reaches the scheduler function asynchronously. Its first attempt fails (StartExecution
    refused, injected in moto); Lambda retries it, and the retry starts the run: one session, one execution, one
    completed turn. A late redelivery of the same firing starts nothing."""
    created = admin.ok("POST", "/schedules", json={"cron": "0 9 * * 1-5", "prompt": "[script:scheduled] report"})
    cloud.inject_fault("states:StartExecution", count=1)
    event = cloud.fire_schedule_async(created["id"], when="2020-01-07T09:00:00Z").wait(240)
    assert event.outcome == "succeeded" and len(event.attempts) == 2, event
    failed, body = event.attempts[0]
    assert failed and b"AccessDenied" in body, body
    result = json.loads(event.attempts[1][1])
    assert result["status"] == "started", result
    sid = result["session_id"]
    events = admin.watch(sid, until="turn.completed", timeout=120)
    assert [e.type for e in events].count("turn.completed") == 1
    session = admin.session(sid)
    assert session["status"] == "idle" and session["result"] == "Scheduled report done.", session
    (execution,) = executions(cloud, sid)
    assert execution["status"] in ("RUNNING", "SUCCEEDED"), execution
    assert len(cloud.model_requests("scheduled")) >= 1
    again = cloud.fire_schedule(created["id"], when="2020-01-07T09:00:00Z")
    assert again == {"status": "duplicate", "session_id": sid}, again
    assert len(executions(cloud, sid)) == 1


def test_a_scheduled_run_that_keeps_failing_is_dead_lettered_and_can_be_redriven(
    cloud: Cloud, admin: ApiClient
) -> None:
    """Every attempt fails (the first and Lambda's two retries): the event goes to the scheduler's dead-letter queue
    as Lambda's invocation record, and nothing ran. Redriving the record's payload starts the run."""
    created = admin.ok("POST", "/schedules", json={"cron": "30 9 * * *", "prompt": "[script:scheduled] report"})
    cloud.inject_fault("states:StartExecution", count=3)
    event = cloud.fire_schedule_async(created["id"], when="2020-01-08T09:30:00Z").wait(240)
    assert event.outcome == "RetriesExhausted" and len(event.attempts) == 3, event
    sqs = cloud.client("sqs")
    messages = sqs.receive_message(QueueUrl=scheduler_dlq(cloud), MaxNumberOfMessages=10, WaitTimeSeconds=2)
    records = [json.loads(m["Body"]) for m in messages.get("Messages", [])]
    (record,) = [r for r in records if r["requestPayload"].get("schedule_id") == created["id"]]
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["responseContext"]["functionError"] == "Unhandled"
    # Nothing started: each attempt released its claim.
    payload = record["requestPayload"]
    redriven = cloud.client("lambda").invoke(
        FunctionName=record["requestContext"]["functionArn"].rsplit(":", 1)[0], Payload=json.dumps(payload).encode()
    )
    result = json.loads(redriven["Payload"].read())
    assert result["status"] == "started", result
    admin.watch(result["session_id"], until="turn.completed", timeout=120)
    assert len(executions(cloud, result["session_id"])) == 1
