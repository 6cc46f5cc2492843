"""The real Lambda handler modules run with Lambda's filesystem: read-only except /tmp, HOME unwritable (item 1).

Each handler (functions/<name>/handler.py) runs in its own process under bubblewrap (`--ro-bind / /`, a fresh
/tmp), with the environment a deployed function has, against moto in server mode on 127.0.0.1. The first call
used to fail on every function: start-up created ~/.dexa.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from moto_servers import server_client

from dexa.adapters.aws import DynamoStore
from dexa.core.session import Session

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")

_CALL = """
import json, sys
import handler

class Context:
    function_name = sys.argv[1]
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + sys.argv[1]
    memory_limit_in_mb = 1024
    aws_request_id = "req-1"
    log_group_name = "/aws/lambda/" + sys.argv[1]
    log_stream_name = "s"
    def get_remaining_time_in_millis(self):
        return 60_000

print("RESULT " + json.dumps(handler.handler(json.loads(sys.argv[2]), Context()), default=str))
"""


def _lambda_run(function: str, event: dict[str, Any], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    code = ROOT / "functions" / function
    full_env = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/home/sbx_user1051",  # Lambda's HOME: not writable (here it does not even exist)
        "LANG": "C.UTF-8",
        "PYTHONPATH": f"{code}:{ROOT / 'shared'}",
        "PYTHONDONTWRITEBYTECODE": "1",
        "AWS_LAMBDA_FUNCTION_NAME": function,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        **env,
    }
    cmd = ["bwrap", "--ro-bind", "/", "/", "--tmpfs", "/tmp", "--dev", "/dev", "--proc", "/proc"]
    if ROOT.resolve().is_relative_to("/tmp"):  # a checkout under /tmp: keep it visible (read-only) over the tmpfs
        cmd += ["--ro-bind", str(ROOT.resolve()), str(ROOT.resolve())]
    cmd += ["--chdir", str(code), "--clearenv"]
    for key, value in full_env.items():
        cmd += ["--setenv", key, value]
    cmd += ["--", sys.executable, "-c", _CALL, function, json.dumps(event)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def _result(out: subprocess.CompletedProcess[str]) -> Any:
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    assert out.returncode == 0 and lines, f"exit {out.returncode}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return json.loads(lines[-1][len("RESULT ") :])


@pytest.fixture
def deployed(moto_server: str) -> dict[str, str]:
    """A table and bucket as the data stack makes them, and one idle session; the environment the stack sets,
    minus DEXA_HOME (the code must be safe without it)."""
    table, bucket = f"dexa-ro-{time.monotonic_ns()}", f"dexa-ro-{time.monotonic_ns()}"
    server_client(moto_server, "s3").create_bucket(Bucket=bucket)
    store = DynamoStore(table, client=server_client(moto_server, "dynamodb"))
    store.create_table()
    now = time.time()
    session = Session(
        id="ses_ro", org_id="o", user_id="u", cwd="/workspace", model="scripted", created_at=now, updated_at=now
    )
    asyncio.run(store.create_session(session))
    return {
        "AWS_ENDPOINT_URL": moto_server,
        "DEXA_TABLE": table,
        "DEXA_BUCKET": bucket,
        "DEXA_STORE": "dynamo",
        "DEXA_HOSTED": "true",
        "DEXA_SANDBOX": "modal",
        "DEXA_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:DexaAgent-turn",
        "POWERTOOLS_SERVICE_NAME": "dexa",
        "POWERTOOLS_METRICS_NAMESPACE": "Dexa",
    }


def test_the_agent_step_handler_answers_its_first_call_on_a_read_only_filesystem(deployed: dict[str, str]) -> None:
    # A step for a turn that is not in flight: the runtime is built (store, settings, home) and the task answers.
    out = _lambda_run("agent_step", {"task": "begin_turn", "session_id": "ses_ro", "turn": 1}, deployed)
    result = _result(out)
    assert result["outcome"] == "done" and result["session_id"] == "ses_ro"
    assert "Read-only file system" not in out.stderr


def test_a_lambda_process_puts_dexa_home_under_tmp() -> None:
    probe = "from dexa.settings import DexaSettings; print('HOME=' + str(DexaSettings().home))"
    env = {k: v for k, v in os.environ.items() if k != "DEXA_HOME"}
    env["PYTHONPATH"] = str(ROOT / "shared")
    on_lambda = subprocess.run(
        [sys.executable, "-c", probe], env={**env, "AWS_LAMBDA_FUNCTION_NAME": "x"}, capture_output=True, text=True
    )
    assert "HOME=/tmp/dexa" in on_lambda.stdout, on_lambda.stderr
    elsewhere = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert f"HOME={Path.home() / '.dexa'}" in elsewhere.stdout, elsewhere.stderr


def test_the_api_handler_answers_its_first_request_on_a_read_only_filesystem(deployed: dict[str, str]) -> None:
    event = json.loads((ROOT / "events" / "api_rest_create_session.json").read_text())
    event.update(httpMethod="GET", path="/health", body=None, isBase64Encoded=False, pathParameters={"proxy": "health"})
    event["requestContext"].update(httpMethod="GET", path="/v1/health")
    out = _lambda_run("api", event, deployed)
    result = _result(out)
    assert result["statusCode"] == 200, result
    assert "Read-only file system" not in out.stderr


def test_the_reconciler_handler_sweeps_on_its_first_call_on_a_read_only_filesystem(
    deployed: dict[str, str], moto_server: str
) -> None:
    definition = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})
    machine = server_client(moto_server, "stepfunctions").create_state_machine(
        name=f"turn-{time.monotonic_ns()}", definition=definition, roleArn="arn:aws:iam::123456789012:role/sfn"
    )["stateMachineArn"]
    # Exactly the reconciler's environment in the template: no secrets, no sandbox settings of its own.
    env = {k: v for k, v in deployed.items() if not k.startswith("DEXA_ANTHROPIC")}
    env["DEXA_STATE_MACHINE_ARN"] = machine
    out = _lambda_run("reconciler", {"sweep": True}, env)
    assert _result(out) == {"reconciled": []}
    assert "Read-only file system" not in out.stderr
