"""The import graph of `dexa run -p`: a headless session (a Bash call, then an answer) imports none of the heavy
packages it does not use. Each was measured on that path and taken off it (benchmarks/headless.py, issue 18):
the MCP SDK (~1,000 modules, with starlette, uvicorn and cryptography) without --mcp-config, httpx 1 (with click,
rich and pygments) without an http hook or a WebFetch, rich without an error to print, typer (the run's flags are
parsed by hand), every anthropic type the Messages request never touches (the SDK's beta resources, its tracing
helpers and error classes; ~3,000 modules imported whole), jsonschema for ordinary tool inputs and pydantic-settings.
Measured: 4,249 modules, then 2,301, then ~1,470, then ~1,370, now ~730 (the Messages resource and its ~600 type
modules off the path: a request without spans posts through the client, dexa.adapters.anthropic.sdk).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dexa.testing.messages_api import serve
from dexa.testing.script import Script

# Top-level packages a plain `dexa run -p` must not import, and why they would be there.
FORBIDDEN = {
    "mcp": "the MCP SDK, with no MCP server configured",
    "mcp_types": "the MCP SDK's types",
    "starlette": "an ASGI server (via the MCP SDK)",
    "uvicorn": "an ASGI server (via the MCP SDK)",
    "fastapi": "dexa serve's API",
    "httpx": "httpx 1 (http hooks, WebFetch); the anthropic SDK uses httpx2",
    "click": "via httpx 1's command line",
    "pygments": "via httpx 1's command line",
    "rich": "the CLI's error console, with no error",
    "boto3": "the AWS adapters",
    "botocore": "the AWS adapters",
    "modal": "the Modal adapters",
    "aiohttp": "the anthropic SDK's optional aiohttp transport",
    "typer": "the typer app: a plain headless run's flags are parsed by hand (cli/run_argv.py)",
    "jsonschema": "tool inputs of the usual keywords are checked by dexa.tools.schema_check",
    "pydantic_settings": "DexaSettings reads DEXA_* itself",
    "dotenv": "via pydantic-settings",
}
# Modules the piecemeal SDK import (dexa.adapters.anthropic.sdk) keeps out.
FORBIDDEN_SDK = (
    "anthropic.resources.beta",
    "anthropic.resources.organization",
    "anthropic.lib.vertex",
    "anthropic.lib._tracing._api_call",  # span helpers: no tracer provider is set
    "anthropic.types.beta.message_create_params",  # ~600 modules, only for span attributes
    "anthropic.types.beta.sessions",
    "anthropic.types.organization",  # the error classes, for an error response only
    "anthropic.resources.messages",  # the resource: a request without spans posts through the client itself
    "anthropic.types.beta",  # ~370 modules of beta types, reached from the resource's stream helpers
    "h2.connection",  # HTTP/2 in the SDK's transport: lazy until a connection negotiates it
    "h2.events",
    "hpack",
)
# Measured ~50 and ~730 (benchmarks/headless.py); the ceilings leave room for a feature's few modules, not for a
# heavy package.
SDK_CEILING = 100
CEILING = 850


def test_a_headless_session_imports_only_what_its_requests_need(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    script = {"turns": [{"tool_uses": [{"name": "Bash", "input": {"command": "echo 1 >> log.txt"}}]}, {"text": "ok"}]}
    env = {**os.environ, "ANTHROPIC_API_KEY": "k", "DEXA_HOME": str(tmp_path / "home")}
    cmd = [sys.executable, "-X", "importtime", "-m", "dexa.cli", "run", "-p", "go", "--output-format", "json"]
    with serve(Script.from_dict(script)) as server:
        env["ANTHROPIC_BASE_URL"] = server.url
        proc = subprocess.run(
            [*cmd, "--allowedTools", "Bash"], cwd=ws, env=env, capture_output=True, text=True, timeout=300
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["subtype"] == "success" and result["result"] == "ok", result
    assert (ws / "log.txt").read_text() == "1\n"  # the Bash call ran (permissions, sandbox: the real path)

    modules = [
        line.rsplit("|", 1)[1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "self [us]" not in line
    ]
    roots = {name.split(".")[0] for name in modules}
    assert "anthropic" in roots and "bashlex" in roots, "the import list was not read"
    found = {root: why for root, why in FORBIDDEN.items() if root in roots}
    assert not found, f"imported by a plain `dexa run -p`: {found}"
    sdk_found = [m for m in modules if m.startswith(FORBIDDEN_SDK)]
    assert not sdk_found, f"anthropic modules a Messages request does not need: {sdk_found[:5]}"
    sdk_count = sum(1 for m in modules if m.startswith("anthropic"))
    assert sdk_count < SDK_CEILING, f"{sdk_count} anthropic modules imported (about 50 expected, 3,000 when whole)"
    assert len(modules) < CEILING, f"{len(modules)} modules imported in all (about 730 expected)"


def test_the_thin_client_of_a_server_imports_no_engine(tmp_path: Path) -> None:
    """`dexa run -p --server URL` only speaks HTTP to the server: no model SDK, no permission engine (bashlex), no
    settings loader. Aimed at a closed port, it fails with its usual message after importing all it would."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    env = {**os.environ, "DEXA_HOME": str(tmp_path / "home"), "DEXA_TOKEN": "t"}
    cmd = [sys.executable, "-X", "importtime", "-m", "dexa.cli", "run", "-p", "hi", "--server", url]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "no Dexa server at" in proc.stderr, proc.stderr[-2000:]
    roots = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "self [us]" not in line
    }
    assert "dexa" in roots, "the import list was not read"
    assert not roots & {"anthropic", "bashlex", "pydantic_settings", "mcp", "yaml"}, roots
