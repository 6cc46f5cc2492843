"""More scenarios of the deployed system, emulated (issue 14): the demo task on a repo, the parallel Map path, and
the AWS calls of each function checked against its own role.

They share the deployment of this folder (a session fixture; `make cloud-e2e` runs the folder with -n 0, so every
file meets the same one). Both sessions start on the offline demo's buggy project, pushed to the GitHub stand-in as
DEMO_REPO and named as the session's `github:` source: the step clones it through the git proxy into the session's
Modal workspace, as a user's session on their own repository would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from .client import ApiClient, Event
from .harness import DEMO_REPO, Cloud
from .iam_audit import AuditProxy, Need, audited, decide
from .iam_audit import audit as audit_calls
from .test_browser_front import add_org

pytestmark = pytest.mark.timeout(600)

BUG = "    discount = gross * discount_pct\n"
FIX = "    discount = gross * discount_pct / 100\n"


@pytest.fixture(scope="module")
def audit(cloud: Cloud) -> Iterator[AuditProxy]:
    """Every function container of this module signs with a key of its own and reaches moto through a recording
    proxy, so the module's last test can check each call against the caller's role."""
    with audited(cloud) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def admin(cloud: Cloud, audit: AuditProxy) -> ApiClient:
    """The admin of an org of this module's own (`dexa cloud add-org`): whichever module bootstraps the deployment,
    these scenarios need not run after it."""
    org = add_org(cloud, "scenarios")
    return ApiClient(cloud.api.url, org["token"])


def volume_file(cloud: Cloud, session_id: str, rel: str) -> str | None:
    """A file of the session's durable workspace (its Modal volume), as the stand-in stores it."""
    assert cloud.modal is not None
    path = cloud.modal.state_dir / "volumes" / f"dexa-ws-{session_id}" / rel
    return path.read_text() if path.exists() else None


def session_item(cloud: Cloud, session_id: str) -> dict[str, Any]:
    """The session's META item in the deployed table, its `data` decoded."""
    item = cloud.client("dynamodb").get_item(
        TableName=cloud.table, Key={"PK": {"S": f"SESSION#{session_id}"}, "SK": {"S": "META"}}, ConsistentRead=True
    )["Item"]
    return json.loads(item["data"]["S"])


def execution_history(cloud: Cloud, session_id: str) -> list[dict[str, Any]]:
    sfn = cloud.client("stepfunctions")
    executions = sfn.list_executions(stateMachineArn=cloud.state_machine_arn)["executions"]
    (execution,) = [e for e in executions if session_id in e["name"]]
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution["executionArn"], "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events += page["events"]
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def completed(events: list[Event], name: str) -> list[dict[str, Any]]:
    """The `tool.completed` payloads of `name`'s calls, in order (an SSE event's data is the whole stored event)."""
    payloads = [e.data.get("data") or {} for e in events if e.type == "tool.completed"]
    return [p for p in payloads if p.get("name") == name]


def test_the_demo_task_runs_to_green_tests_on_a_repo(cloud: Cloud, admin: ApiClient) -> None:
    """`make demo`'s task, deployed: a session on the buggy invoice repo runs its tests (red), reads and fixes the
    discount, and runs them again (green), every event followed on the event stream as a client would."""
    session = admin.create_session(
        "[script:demo_task] The tests in this repo fail. Fix the code and run the tests until they pass.",
        permission_mode="bypassPermissions",
        sources=[f"github:{DEMO_REPO}"],
    )
    sid = session["id"]
    events = admin.watch(sid, until="turn.completed", timeout=240)
    types = [e.type for e in events]
    assert not [e.data for e in events if e.type in ("turn.failed", "error")], types
    ids = [e.id for e in events]
    assert ids == list(range(ids[0], ids[0] + len(ids))), f"gaps in the stream: {ids}"

    bash = completed(events, "Bash")
    assert len(bash) == 2, [e.data for e in events if e.type == "tool.completed"]
    red, green = bash
    # Red first: the unittest run failed on the discount tests (the demo's runner: no pytest in the image).
    assert red["data"]["exit_code"] != 0 and "FAILED" in red["content"], red
    assert "invoice" in red["content"] and "test_totals.py" in red["content"], red  # the clone is in the workspace
    (read,) = completed(events, "Read")
    assert not read["is_error"] and "discount_pct" in read["content"], read
    (edit,) = completed(events, "Edit")
    assert not edit["is_error"], edit
    # Green last: the final Bash ran the same tests and they pass.
    assert green["data"]["exit_code"] == 0 and not green["is_error"], green
    assert "OK" in green["content"] and "FAILED" not in green["content"], green

    # The fix is in the session's durable workspace (the Modal volume), the test file untouched.
    fixed = volume_file(cloud, sid, "invoice/invoice/totals.py")
    assert fixed is not None and FIX in fixed and BUG not in fixed, fixed
    assert "discount_pct=10), 2700" in (volume_file(cloud, sid, "invoice/tests/test_totals.py") or "")
    # The deployed table holds the outcome, and the API reports the same.
    result = "All 3 tests pass: discount_pct is now treated as a percentage."
    item = session_item(cloud, sid)
    assert item["status"] == "idle" and item["result"] == result, {k: item.get(k) for k in ("status", "result")}
    assert admin.session(sid)["result"] == result
    # Two model replies with tool calls ran as the machine's tasks (Bash is never chained): the execution succeeded.
    history = execution_history(cloud, sid)
    assert any(e["type"] == "ExecutionSucceeded" for e in history)
    assert len(cloud.model_requests("demo_task")) == 5


def test_parallel_reads_handed_to_the_map_after_an_approval(cloud: Cloud, admin: ApiClient) -> None:
    """The deployed Map path: a reply with three Reads and a Bash that asks parks the turn (the chain stops at the
    ask); once approved, the machine's PlanTools hands the three Reads to RunReadOnlyTools, one RunTool Lambda per
    item, and RunTools runs the Bash. The model's next Edit on a file one item read succeeds: each item's tool
    state (read_files) reached the session, not only the last writer's."""
    sid = admin.create_session(
        "[script:map_reads] read the code and fix the discount",
        permission_mode="acceptEdits",
        sources=[f"github:{DEMO_REPO}"],
    )["id"]
    admin.watch(sid, until="permission.required", timeout=240)
    pending = [a for a in admin.ok("GET", f"/sessions/{sid}/approvals")["data"] if a["status"] == "pending"]
    assert len(pending) == 1 and "git status" in json.dumps(pending[0]), pending
    admin.ok("POST", f"/sessions/{sid}/approve", json={"approval_id": pending[0]["id"], "decision": "once"})
    events = admin.watch(sid, until="turn.completed", timeout=240)
    assert not [e.data for e in events if e.type in ("turn.failed", "error")], [e.type for e in events]

    reads = completed(events, "Read")
    assert len(reads) == 3 and not any(r["is_error"] for r in reads), json.dumps([r for r in reads if r["is_error"]])
    (bash,) = completed(events, "Bash")
    assert bash["data"]["exit_code"] == 0 and "clean-tree" in bash["content"], bash
    (edit,) = completed(events, "Edit")
    assert not edit["is_error"], edit  # "File has not been read yet" if the items' read_files overwrote each other
    fixed = volume_file(cloud, sid, "invoice/invoice/totals.py")
    assert fixed is not None and FIX in fixed, fixed
    assert admin.session(sid)["result"] == "Read three files side by side, then fixed the discount."

    history = execution_history(cloud, sid)
    assert any(e["type"] == "ExecutionSucceeded" for e in history)
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
    assert "RunReadOnlyTools" in entered, entered
    # Three items, each a RunTool Lambda that succeeded (a failed item would be caught into ToolLeftOver).
    assert [e["type"] for e in history].count("MapIterationSucceeded") == 3, [e["type"] for e in history]
    assert entered.count("RunTool") == 3 and "ToolLeftOver" not in entered, entered
    assert not [e for e in history if e["type"] in ("MapIterationFailed", "TaskFailed", "LambdaFunctionFailed")]
    started = [e for e in history if e["type"] == "MapStateStarted"]
    assert len(started) == 1 and started[0]["mapStateStartedEventDetails"]["length"] == 3, started


# -- IAM: every call a function made, against its own role ------------------------------------------------------


def test_every_aws_call_a_function_made_is_allowed_by_its_role(
    cloud: Cloud, admin: ApiClient, audit: AuditProxy
) -> None:
    """The calls of this module's scenarios (the API, step and event-stream functions), plus a schedule created
    through the API and fired (the scheduler function), each checked against the policies of the role its function
    runs with (iam_audit.py: why not moto's own enforcement)."""
    created = admin.ok("POST", "/schedules", json={"cron": "0 9 * * 1-5", "prompt": "[script:scheduled] report"})
    fired = cloud.fire_schedule(created["id"], when="2020-01-07T09:00:00Z")
    assert fired["status"] == "started", fired
    admin.watch(fired["session_id"], until="turn.completed", timeout=240)

    found, used = audit_calls(cloud, audit.calls)
    summary = {fn.rsplit("-", 1)[0][-40:]: sorted(actions) for fn, actions in used.items()}
    print(f"\ncloud-e2e: IAM audit of {len(audit.calls)} requests: {json.dumps(summary, indent=1)}")
    assert len(used) >= 3, summary  # the API, the step and the scheduler functions at least
    report = [f"{f.verdict}: {f.function} {f.need.action} on {list(f.need.resources)} ({f.need.what})" for f in found]
    assert not report, "\n".join(report)


def test_the_audit_refuses_what_a_role_does_not_grant() -> None:
    """The evaluator can fail: a step role without states:DescribeExecution (the review's finding 11)."""
    sm = "arn:aws:states:us-east-1:123456789012:stateMachine:Turn"
    statements = [
        {"Effect": "Allow", "Action": ["states:StartExecution", "states:SendTask*"], "Resource": sm},
        {"Effect": "Allow", "Action": "dynamodb:*Item", "Resource": "arn:aws:dynamodb:us-east-1:123456789012:table/T"},
        {"Effect": "Deny", "Action": "dynamodb:DeleteItem", "Resource": "*"},
    ]
    execution = "arn:aws:states:us-east-1:123456789012:execution:Turn:ses_1-t1"
    assert decide(statements, Need("states:DescribeExecution", (execution,), "")) == "implicit"
    assert decide(statements, Need("states:StartExecution", (sm,), "")) == "allowed"
    assert decide(statements, Need("states:sendtasksuccess", (sm,), "")) == "allowed"  # actions are case-blind
    table = "arn:aws:dynamodb:us-east-1:123456789012:table/T"
    assert decide(statements, Need("dynamodb:PutItem", (table,), "")) == "allowed"
    assert decide(statements, Need("dynamodb:PutItem", (table + "-other",), "")) == "implicit"
    assert decide(statements, Need("dynamodb:DeleteItem", (table,), "")) == "denied"
