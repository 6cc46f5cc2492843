"""`dexa run -p` exports real OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set, and loads no OpenTelemetry SDK
when it is not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from otlp_receiver import OtlpReceiver

from dexa.testing.messages_api import serve
from dexa.testing.script import Script

SCRIPT = {"turns": [{"tool_uses": [{"name": "Bash", "input": {"command": "echo 1 >> log.txt"}}]}, {"text": "ok"}]}


def _run(tmp_path: Path, env: dict[str, str], *python_flags: str) -> subprocess.CompletedProcess[str]:
    ws = tmp_path / "ws"
    ws.mkdir(exist_ok=True)
    env = {**os.environ, "ANTHROPIC_API_KEY": "k", "DEXA_HOME": str(tmp_path / "home"), **env}
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        if name not in env or not env[name]:
            env.pop(name, None)
    cmd = [sys.executable, *python_flags, "-m", "dexa.cli", "run", "-p", "go", "--output-format", "json"]
    with serve(Script.from_dict(SCRIPT)) as server:
        env["ANTHROPIC_BASE_URL"] = server.url
        proc = subprocess.run(
            [*cmd, "--allowedTools", "Bash"], cwd=ws, env=env, capture_output=True, text=True, timeout=300
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["subtype"] == "success" and result["result"] == "ok", result
    return proc


def test_a_headless_run_sends_its_spans_and_metrics_to_the_otlp_endpoint(tmp_path: Path) -> None:
    with OtlpReceiver() as receiver:
        _run(tmp_path, {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_SERVICE_NAME": "dexa-under-test"})
    spans = receiver.spans
    assert spans, "no spans reached the receiver"
    assert receiver.content_types == {"application/x-protobuf"}
    by_name = {s["name"]: s for s in spans}
    turn = by_name["invoke_agent dexa"]
    assert turn["parent_span_id"] == "" and turn["resource"]["service.name"] == "dexa-under-test"
    assert {s["trace_id"] for s in spans} == {turn["trace_id"]}
    # X-Ray-shaped trace id: its first 32 bits are the epoch second it began.
    assert abs(int(turn["trace_id"][:8], 16) - turn["start"] // 1_000_000_000) <= 5
    steps = [s for s in spans if s["parent_span_id"] == turn["span_id"]]
    assert {s["name"] for s in steps} == {
        "dexa.step begin_turn",
        "dexa.step call_model",
        "dexa.step decide_tools",
        "dexa.step run_tools",
        "dexa.step end_turn",
    }
    chat = next(s for s in spans if s["name"].startswith("chat "))
    assert chat["attributes"]["gen_ai.usage.output_tokens"] > 0
    tool = by_name["execute_tool Bash"]
    # --allowedTools Bash: a rule allowed it, and the run says which.
    assert tool["attributes"]["dexa.permission.decision"] == "allow"
    assert tool["attributes"]["dexa.permission.rule"] == "Bash"
    assert tool["attributes"]["dexa.tool.exit_code"] == 0
    assert {"dexa.cost", "dexa.tool.calls", "gen_ai.client.operation.duration", "dexa.step.duration"} <= (
        receiver.metric_names
    )


def test_with_tracing_off_no_opentelemetry_sdk_is_imported(tmp_path: Path) -> None:
    proc = _run(tmp_path, {"OTEL_EXPORTER_OTLP_ENDPOINT": ""}, "-X", "importtime")
    modules = [
        line.rsplit("|", 1)[1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "self [us]" not in line
    ]
    assert "dexa.core.tracing" in modules, "the import list was not read"
    loaded = [m for m in modules if m.startswith(("opentelemetry.sdk", "opentelemetry.exporter", "dexa.adapters.otel"))]
    assert not loaded, f"tracing is off, yet imported: {loaded[:5]}"


def test_an_mcp_call_is_a_span_inside_its_tool_call(tmp_path: Path) -> None:
    """A real stdio MCP server (PyPI mcp-server-time): the tools/call span sits inside the execute_tool span."""
    ws = tmp_path / "ws"
    ws.mkdir()
    mcp = tmp_path / "mcp.json"
    server = {"command": sys.executable, "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"]}
    mcp.write_text(json.dumps({"mcpServers": {"time": server}}))
    script = {
        "turns": [
            {"tool_uses": [{"name": "mcp__time__get_current_time", "input": {"timezone": "UTC"}}]},
            {"text": "done"},
        ]
    }
    env = {**os.environ, "ANTHROPIC_API_KEY": "k", "DEXA_HOME": str(tmp_path / "home")}
    with OtlpReceiver() as receiver, serve(Script.from_dict(script)) as model:
        env.update(ANTHROPIC_BASE_URL=model.url, OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url)
        args = ["run", "-p", "time?", "--mcp-config", str(mcp), "--allowedTools", "mcp__time"]
        proc = subprocess.run(
            [sys.executable, "-m", "dexa.cli", *args],
            cwd=ws,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    by_id = {s["span_id"]: s for s in receiver.spans}
    (call,) = [s for s in receiver.spans if s["name"] == "tools/call get_current_time"]
    assert call["attributes"]["mcp.method.name"] == "tools/call" and call["attributes"]["dexa.mcp.server"] == "time"
    assert by_id[call["parent_span_id"]]["name"] == "execute_tool mcp__time__get_current_time"
