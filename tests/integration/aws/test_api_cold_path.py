"""What a cold API Lambda imports (issue 14 item 5: API <= 500 ms of cold start).

The handler module runs as the stack names it (functions/api, `handler.handler`) in a fresh process with the
environment the template sets, against moto in server mode. It answers what API Gateway sends a cold container
first: the request authorizer's event, then the request itself, here `POST /sessions` with a prompt (the session
is stored and its turn's execution started in Step Functions). What that path does not need must stay out of the
process: benchmarks/cloud_cold_start.py measures the time, this test pins what it is made of.
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from moto_servers import lambda_env, server_client

from dexa.adapters.aws import DynamoStore
from dexa.auth.service import AuthService

ROOT = Path(__file__).resolve().parents[3]
API_DIR = ROOT / "functions" / "api"

# Never on the API's cold path for a session request: the code workflow and the HTTP client it brings, the SSE
# server library (and uvicorn, click), Powertools' tracer (the X-Ray SDK), the step's parts (the model SDK, the local
# sandbox, the Modal workspace and its image, the MCP SDK), boto3 (clients come from botocore), and the routers of
# other requests. Still imported today, and worth deferring (they serve other requests): checkpoints, the
# integrations' registry, the mailers and reviewer notices, output delivery, OpenTelemetry (FastAPI's own).
ABSENT = (
    "dexa.code",
    "dexa.gitproxy",
    "httpx",
    "sse_starlette",
    "uvicorn",
    "click",
    "aws_xray_sdk",
    "anthropic",
    "mcp",
    "dexa.adapters.local_sandbox",
    "dexa.adapters.modal.workspace",
    "dexa.adapters.modal.image",
    "dexa.toolchain",
    "boto3",
    "s3transfer",
    "dexa.api.routers.outputs",
    "dexa.api.routers.integrations",
    "email.mime",
    "pydantic.v1",  # FastAPI's v1-model checks import it; dexa.api.fastapi_compat answers them without
    "dexa.api.routers.session_actions",  # what is done to one session: not creating or listing
    "dexa.api.artifacts",
    "dexa.api.schemas.session_actions",  # their bodies, and the approvals' they pull in
    "dexa.api.schemas.approvals",
    "dexa.web",  # the web UI: built on its first request, as the inbound webhooks' router is
)
# What the authorizer's event must not import: API Gateway calls it before every uncached request, and a cold
# container answers it first; the app and the runtime are built by the request that follows.
NOT_FOR_THE_AUTHORIZER = (
    "fastapi",
    "starlette",
    "pydantic",
    "dexa.api",
    "dexa.wiring",
    "dexa.runtime",
    "dexa.settings",
)
# 789 today; a cap with headroom, so that only a real regression (a heavy package on the path) trips it.
MAX_MODULES = 900

CHILD = """
import gc, json, sys, time

cpu = time.process_time()
import re._parser
regex_parses = {"init": 0, "authorizer": 0, "request": 0}  # patterns re's Python compiler parsed, per phase
phase = "init"
_parse = re._parser.parse
def _parse_counted(*args, **kwargs):
    regex_parses[phase] += 1
    return _parse(*args, **kwargs)
re._parser.parse = _parse_counted
import handler  # the template's Handler: handler.handler (it imports no botocore: that is the authorizer's)
young_at_init = gc.get_stats()[0]["collections"]
import botocore.session

clients = []  # every AWS client the container makes, by service
_create = botocore.session.Session.create_client
def _recorded(self, service_name, *args, **kwargs):
    clients.append(service_name)
    return _create(self, service_name, *args, **kwargs)
botocore.session.Session.create_client = _recorded
sessions = []  # botocore sessions made
_init = botocore.session.Session.__init__
def _session(self, *args, **kwargs):
    sessions.append(1)
    _init(self, *args, **kwargs)
botocore.session.Session.__init__ = _session
import botocore.loaders
parsed = []  # botocore data files parsed from JSON, relative to its data directory
_load = botocore.loaders.JSONFileLoader._load_file
def _parsing(self, full_path, open_method):
    data = _load(self, full_path, open_method)
    if data is not None:
        parsed.append(full_path.split("/botocore/data/")[-1])
    return data
botocore.loaders.JSONFileLoader._load_file = _parsing

class Context:
    function_name = "DexaApi-Api"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:DexaApi-Api"
    memory_limit_in_mb = 1024
    aws_request_id = "req-1"
    log_group_name = "/aws/lambda/DexaApi-Api"
    log_stream_name = "s"
    def get_remaining_time_in_millis(self):
        return 29_000

authorizer_event, request_event = json.loads(sys.argv[1]), json.loads(sys.argv[2])
marks = [time.process_time()]
print("--- phase: authorizer", file=sys.stderr, flush=True)  # marks for a -X importtime run
phase = "authorizer"
decision = handler.handler(authorizer_event, Context())
marks.append(time.process_time())
after_authorizer = sorted(sys.modules)
print("--- phase: request", file=sys.stderr, flush=True)
phase = "request"
answer = handler.handler(request_event, Context())
marks.append(time.process_time())
gc_state = {"young_collections": gc.get_stats()[0]["collections"] - young_at_init, "frozen": gc.get_freeze_count()}
gc_state["threshold"] = gc.get_threshold()
ms = [round((b - a) * 1000) for a, b in zip([cpu, *marks], marks)]
print("RESULT " + json.dumps({
    "decision": decision, "status": answer["statusCode"], "body": answer["body"], "cpu_ms": ms,
    "modules": sorted(sys.modules), "clients": clients, "sessions": len(sessions), "parsed": parsed,
    "after_authorizer": after_authorizer, "regex_parses": regex_parses, "gc": gc_state,
}))
"""


def _events(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    request = json.loads((ROOT / "events" / "api_rest_create_session.json").read_text())
    request["headers"]["Authorization"] = f"Bearer {token}"
    request["body"] = json.dumps({"prompt": "list the files here", "cwd": "/workspace"})
    authorizer = {
        "type": "REQUEST",
        "methodArn": "arn:aws:execute-api:us-east-1:123456789012:abc123/v1/POST/sessions",
        "resource": "/{proxy+}",
        "path": "/sessions",
        "httpMethod": "POST",
        "headers": dict(request["headers"]),
        "requestContext": dict(request["requestContext"]),
    }
    return authorizer, request


def cold_api(
    moto: str, tmp_path: Path, *, python_flags: tuple[str, ...] = (), package_root: Path = ROOT / "shared"
) -> dict[str, Any]:
    """One cold API container: its handler imported, then the authorizer's event and `POST /sessions` answered.
    `package_root`: where `dexa` is imported from (the source tree, or a copy laid out as the layer ships it)."""
    stamp = time.monotonic_ns()
    table, bucket = f"dexa-cold-api-{stamp}", f"dexa-cold-api-{stamp}"
    server_client(moto, "s3").create_bucket(Bucket=bucket)
    store = DynamoStore(table, client=server_client(moto, "dynamodb"))
    store.create_table()
    sfn = server_client(moto, "stepfunctions")
    machine = sfn.create_state_machine(
        name=f"turn-{stamp}",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/sfn",
    )["stateMachineArn"]

    async def key() -> str:
        auth = AuthService(store)
        org = await auth.create_org("cold")
        user = await auth.create_user(org.id, "admin", "admin")
        return (await auth.create_key(org.id, user.id, "k"))[1]

    authorizer, request = _events(asyncio.run(key()))
    # What the deployed API reads at its first request: the Modal token's secret and the public URL's parameter.
    modal = server_client(moto, "secretsmanager").create_secret(
        Name=f"modal-{stamp}", SecretString=json.dumps({"token_id": "ak-test", "token_secret": "as-test"})
    )["ARN"]
    server_client(moto, "ssm").put_parameter(Name=f"/dexa/url-{stamp}", Value="https://api.example/v1", Type="String")
    env = lambda_env(
        moto,
        tmp_path,
        function="DexaApi-Api",
        code_dir=API_DIR,
        table=table,
        bucket=bucket,
        machine=machine,
        package_root=package_root,
        # As the stack sets them (stacks/common.py, stacks/api.py), the secrets by ARN.
        POWERTOOLS_LOG_LEVEL="INFO",
        DEXA_MODAL_SECRET_ARN=modal,
        DEXA_PUBLIC_URL_PARAMETER=f"/dexa/url-{stamp}",
        DEXA_SCHEDULE_GROUP="dexa",
        DEXA_SCHEDULER_TARGET_ARN="arn:aws:lambda:us-east-1:123456789012:function:DexaIntegrations-Scheduler",
        DEXA_SCHEDULER_ROLE_ARN="arn:aws:iam::123456789012:role/DexaIntegrations-SchedulerRole",
        # Read on first use only (no such secrets here: a cold start that reads one fails the request).
        DEXA_GITHUB_TOKEN_ARN="arn:aws:secretsmanager:us-east-1:123456789012:secret:dexa-github-missing",
        DEXA_LINK_KEY_ARN="arn:aws:secretsmanager:us-east-1:123456789012:secret:dexa-link-missing",
        DEXA_SLACK_BOT_TOKEN_ARN="arn:aws:secretsmanager:us-east-1:123456789012:secret:dexa-slack-missing",
    )
    argv = [sys.executable, *python_flags, "-c", CHILD, json.dumps(authorizer), json.dumps(request)]
    out = subprocess.run(argv, cwd=API_DIR, env=env, capture_output=True, text=True, timeout=180)
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    assert out.returncode == 0 and lines, f"exit {out.returncode}\n{out.stdout[-3000:]}\n{out.stderr[-5000:]}"
    result = json.loads(lines[-1][len("RESULT ") :])
    result["stderr"] = out.stderr
    result["executions"] = sfn.list_executions(stateMachineArn=machine)["executions"]
    return result


def test_a_cold_api_answers_the_authorizer_and_starts_a_session_without_what_it_does_not_need(
    moto_server: str, tmp_path: Path
) -> None:
    result = cold_api(moto_server, tmp_path)
    # It really ran: the authorizer allowed the caller, the session was created and its turn's execution started.
    assert result["decision"]["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert result["status"] == 201, result["body"]
    session = json.loads(result["body"])
    assert session["id"].startswith("ses_") and len(result["executions"]) == 1
    modules = set(result["modules"])
    loaded = sorted({name for name in ABSENT for m in modules if m == name or m.startswith(name + ".")})
    assert not loaded, f"a cold API imported {loaded}: import them where they are used"
    assert len(modules) <= MAX_MODULES, f"a cold API imported {len(modules)} modules (cap {MAX_MODULES})"
    # The authorizer answered before the app and the runtime were built: its event needs neither.
    early = sorted(
        {
            m
            for m in result["after_authorizer"]
            for name in NOT_FOR_THE_AUTHORIZER
            if m == name or m.startswith(name + ".")
        }
    )
    assert not early, f"the authorizer's event imported {early}"


def test_a_cold_api_makes_one_dynamodb_client_and_reads_no_secret_or_parameter_it_does_not_need(
    moto_server: str, tmp_path: Path
) -> None:
    result = cold_api(moto_server, tmp_path)
    assert result["status"] == 201, result["body"]
    # The authorizer's store and the runtime's share one client (each costs a session and endpoint resolution).
    assert result["clients"].count("dynamodb") == 1, result["clients"]
    # The Modal token (Secrets Manager) and the public URL (SSM) are read on first use: creating a session uses
    # neither.
    assert "secretsmanager" not in result["clients"] and "ssm" not in result["clients"], result["clients"]


def _layer_tree(tmp_path: Path) -> Path:
    """The dexa package as the layer ships it, its tables built beside it as layers/dexa/build.sh builds them:
    botocore's data pre-parsed, the dataclass code and the regex programs of every module a function may load."""
    tree = tmp_path / "opt-python"
    shutil.copytree(ROOT / "shared" / "dexa", tree / "dexa")
    build = ROOT / "layers" / "dexa" / "build.sh"
    tables = re.search(r"-c '\n(.*?\ncodecache\.build\(.*?\))\n' (.*?) >/dev/null", build.read_text(), re.S)
    assert tables is not None, "the code and regex tables' step moved in layers/dexa/build.sh"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tree), "DEXA_HOME": str(tmp_path / "build-home")}
    for argv in (
        [sys.executable, "-m", "dexa.adapters.aws.botocore_data", "-"],
        [sys.executable, "-P", "-B", "-c", tables.group(1), *shlex.split(tables.group(2))],
    ):
        built = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
        assert built.returncode == 0, built.stderr[-3000:]
    return tree


def test_a_cold_api_from_the_layer_parses_no_botocore_json_or_known_regex_and_makes_one_botocore_session(
    moto_server: str, tmp_path: Path
) -> None:
    tree = _layer_tree(tmp_path)
    tables = {p: p.read_bytes() for p in (tree / "dexa" / "_dataclass_code").iterdir()}
    result = cold_api(moto_server, tmp_path, package_root=tree)
    # The layer's tables are only read: a container that compiled something new writes nothing back.
    assert {p: p.read_bytes() for p in (tree / "dexa" / "_dataclass_code").iterdir()} == tables
    # It really ran, its DynamoDB and Step Functions clients made from the shipped data: the key was checked, the
    # session stored and its execution started.
    assert result["decision"]["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert result["status"] == 201, result["body"]
    assert len(result["executions"]) == 1 and sorted(result["clients"]) == ["dynamodb", "stepfunctions"]
    # endpoints.json, the services' models and endpoint rules: ~50 ms of JSON with an OrderedDict per object, and
    # two listings of botocore's ~470 service directories, each cold start; none of it here.
    assert result["parsed"] == [], result["parsed"]
    # Both clients from one session: its construction, credential chain and endpoint resolver paid once.
    assert result["sessions"] == 1
    # The patterns the container compiles (botocore's, FastAPI's, the app's routes...) come from the layer's regex
    # table: re's Python compiler parses only those compiled before dexa.cloud installs it (~30; ~190 without).
    parses = result["regex_parses"]
    assert sum(parses.values()) <= 40, parses


def test_from_the_source_tree_the_same_container_falls_back_to_botocore_json(moto_server: str, tmp_path: Path) -> None:
    """The control of the test above: without the shipped data, botocore parses its JSON as ever."""
    result = cold_api(moto_server, tmp_path)
    assert result["status"] == 201, result["body"]
    assert {"endpoints.json", "dynamodb/2012-08-10/service-2.json.gz"} <= set(result["parsed"]), result["parsed"]
    assert sum(result["regex_parses"].values()) >= 100, result["regex_parses"]


def test_a_cold_api_collects_next_to_no_garbage_until_its_first_request_is_answered(
    moto_server: str, tmp_path: Path
) -> None:
    # dexa.cloud.cold_gc: start-up builds what the container keeps; walking it ~150 times cost 45-70 ms of CPU.
    result = cold_api(moto_server, tmp_path)
    assert result["status"] == 201, result["body"]
    state = result["gc"]
    assert state["young_collections"] <= 10, state  # after the handler's import; with the usual threshold: ~100
    # Then what start-up built is frozen (later collections skip it) and the usual threshold is back.
    assert state["frozen"] > 20_000 and tuple(state["threshold"]) == (700, 10, 10), state
