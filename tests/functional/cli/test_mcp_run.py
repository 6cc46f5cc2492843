"""`dexa run --mcp-config` with a real third-party stdio server (PyPI mcp-server-time), loaded lazily."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_headless_run_loads_a_source_and_calls_a_real_mcp_server(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (tmp_path / "mcp.json").write_text(json.dumps({"mcpServers": {"time": {
        "command": sys.executable, "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"]}}}))
    (tmp_path / "script.json").write_text(json.dumps({"turns": [
        {"tool_uses": [{"name": "LoadSourceTools", "input": {"sources": ["time"]}}]},
        {"tool_uses": [{"name": "mcp__time__get_current_time", "input": {"timezone": "UTC"}}]},
        {"text": "done"},
    ]}))
    out = subprocess.run(
        [sys.executable, "-m", "dexa.cli", "run", "-p", "what time is it", "--model",
         f"scripted:{tmp_path / 'script.json'}", "--mcp-config", str(tmp_path / "mcp.json"),
         "--allowedTools", "mcp__time", "--output-format", "stream-json", "--verbose"],
        cwd=ws, env={**os.environ, "DEXA_HOME": str(tmp_path / "home")}, capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    results = [b for m in lines if m["type"] == "user" for b in m["message"]["content"]]
    assert "mcp__time__get_current_time" in results[0]["content"]
    payload = json.loads(results[1]["content"])
    assert payload["timezone"] == "UTC" and not results[1]["is_error"]
    assert lines[-1]["subtype"] == "success"
