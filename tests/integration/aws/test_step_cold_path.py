"""What a cold agent-step Lambda imports (issue 14 item 5: step <= 800 ms of cold start, the model client included).

The handler module runs as the stack names it (functions/agent_step, `handler.handler`) in a fresh process with
the environment the template sets, against moto in server mode. Its first invocation builds the runtime; then the
session's environment is built (tools, memory, extensions, the Modal workspace, the code workflow: GitHub is
configured) and one model request goes through the real Anthropic client to the loopback Messages API. Heavy parts
a step does not need must stay out of the process: benchmarks/cloud_cold_start.py measures the time, this test pins
what it is made of, so a stray top-level import fails here instead of slowly raising every cold start.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from moto_servers import lambda_env, server_client

from dexa.adapters.aws import DynamoStore
from dexa.core.session import Session
from dexa.testing.messages_api import serve

ROOT = Path(__file__).resolve().parents[3]
STEP_DIR = ROOT / "functions" / "agent_step"

# Never on a step's cold path: the API's web stack, the local sandbox (steps use Modal), the GitHub client's HTTP
# stack and App auth (imported by the first GitHub call), .gitignore matching (by the first rule or .gitignore),
# the shell parser (by the first Bash command checked), the MCP SDK (no MCP server configured), the SDK's Messages
# resource and its ~300 type modules, what httpx's CLI module pulls in, and boto3 (clients come from botocore).
ABSENT = (
    "fastapi",
    "starlette",
    "mangum",
    "uvicorn",
    "dexa.api",
    "dexa.server_app",
    "dexa.adapters.local_sandbox",
    "httpx",
    "jwt",
    "cryptography",
    "pathspec",
    "bashlex",
    "mcp",
    "anthropic.resources.messages",
    "rich",
    "click",
    "boto3",
    "s3transfer",
)
# ~860 today; a cap with headroom, so that only a real regression (a heavy package on the path) trips it.
MAX_MODULES = 1000

CHILD = """
import asyncio, json, sys

import handler  # the template's Handler: handler.handler

class Context:
    function_name = "DexaAgent-AgentStep"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:DexaAgent-AgentStep"
    memory_limit_in_mb = 1024
    aws_request_id = "req-1"
    log_group_name = "/aws/lambda/DexaAgent-AgentStep"
    log_stream_name = "s"
    def get_remaining_time_in_millis(self):
        return 60_000

first = handler.handler({"task": "begin_turn", "session_id": "ses_cold", "turn": 1}, Context())

from dexa.cloud.lambdas import cloud_runtime
from dexa.core.messages import user_text
from dexa.core.ports import ModelRequest


async def session_env_and_one_model_call():
    runtime = cloud_runtime()
    session = await runtime.store.get_session("ses_cold")
    env = await runtime.engine.envs.env_for(session)
    request = ModelRequest(model=session.model, system="s", messages=(user_text("m1", "hi"),))
    reply = await env.model.complete(request)
    return sorted(env.tools.names()), "".join(getattr(b, "text", "") for b in reply.message.content)

tools, text = asyncio.new_event_loop().run_until_complete(session_env_and_one_model_call())
print("RESULT " + json.dumps({"first": first, "tools": tools, "text": text, "modules": sorted(sys.modules)}))
"""


def _cold_step(moto: str, tmp_path: Path) -> dict[str, Any]:
    table, bucket = f"dexa-cold-{time.monotonic_ns()}", f"dexa-cold-{time.monotonic_ns()}"
    server_client(moto, "s3").create_bucket(Bucket=bucket)
    store = DynamoStore(table, client=server_client(moto, "dynamodb"))
    store.create_table()
    now = time.time()
    model = "claude-sonnet-4-5"  # a real model name: the real Anthropic client is built and used
    session = Session(
        id="ses_cold", org_id="o", user_id="u", cwd="/workspace", model=model, created_at=now, updated_at=now
    )
    asyncio.run(store.create_session(session))
    script = tmp_path / "hello.json"
    script.write_text(json.dumps({"turns": [{"text": "Hello from a cold step."}]}))
    with serve(script) as fake:
        # As the stack sets them (stacks/agent.py); the secrets' values arrive as environment variables.
        env = lambda_env(
            moto,
            tmp_path,
            function="DexaAgent-AgentStep",
            code_dir=STEP_DIR,
            table=table,
            bucket=bucket,
            machine="arn:aws:states:us-east-1:123456789012:stateMachine:DexaAgent-turn",
            DEXA_LIVE_DELTAS="1",
            ANTHROPIC_API_KEY="sk-test",
            ANTHROPIC_BASE_URL=fake.url,
            GITHUB_TOKEN="ghp-test",
            MODAL_TOKEN_ID="ak-test",
            MODAL_TOKEN_SECRET="as-test",
        )
        out = subprocess.run(
            [sys.executable, "-c", CHILD], cwd=STEP_DIR, env=env, capture_output=True, text=True, timeout=180
        )
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    assert out.returncode == 0 and lines, f"exit {out.returncode}\n{out.stdout[-3000:]}\n{out.stderr[-5000:]}"
    return json.loads(lines[-1][len("RESULT ") :])


def test_a_cold_step_builds_the_session_and_calls_the_model_without_what_it_does_not_need(
    moto_server: str, tmp_path: Path
) -> None:
    result = _cold_step(moto_server, tmp_path)
    # It really ran: the first invocation answered, the environment has the session's tools (the code workflow's
    # among them: GitHub is configured), and the model's reply came back through the real client.
    assert result["first"]["session_id"] == "ses_cold"
    assert {"Bash", "Read", "Edit", "Task"} <= set(result["tools"])
    assert result["text"] == "Hello from a cold step."
    modules = set(result["modules"])
    loaded = sorted(name for name in ABSENT for m in modules if m == name or m.startswith(name + "."))
    assert not loaded, f"a cold step imported {sorted(set(loaded))}: import them where they are used"
    assert len(modules) <= MAX_MODULES, f"a cold step imported {len(modules)} modules (cap {MAX_MODULES})"
