"""`dexa run` leaves no process of its own behind: sandbox, background Bash jobs (`&` and run_in_background), stdio
MCP servers, the egress bridge. Checked by a marker every one of them carries (in the workspace path the sandbox
binds, in their command lines, in the MCP server's environment), after a normal exit, an error, SIGINT and SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from dexa.testing.procs import processes_marked


def _script(tmp: Path, marker: str, ending: str) -> Path:
    turns: list[dict[str, object]] = [
        {"tool_uses": [{"name": "LoadSourceTools", "input": {"sources": ["time"]}}]},
        {"tool_uses": [{"name": "mcp__time__get_current_time", "input": {"timezone": "UTC"}}]},
        {"tool_uses": [{"name": "Bash", "input": {"command": f"(exec -a {marker}-amp sleep 600) & echo started"}}]},
        {
            "tool_uses": [
                {
                    "name": "Bash",
                    "input": {"command": f"exec -a {marker}-bg sleep 601", "run_in_background": True},
                }
            ]
        },
    ]
    # Every ending first runs a foreground command the test waits for, to see the others alive at that point.
    seconds = 602 if ending in ("sigint", "sigterm") else 3
    turns.append({"tool_uses": [{"name": "Bash", "input": {"command": f"exec -a {marker}-fg sleep {seconds}"}}]})
    turns.append({"error": {"status": 400, "times": 5}} if ending == "error" else {"text": "done"})
    path = tmp / "script.json"
    path.write_text(json.dumps({"turns": turns}))
    return path


def _wait(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


@pytest.mark.parametrize(
    ("ending", "network"),
    [("normal", False), ("error", False), ("sigint", False), ("sigterm", False), ("sigterm", True), ("normal", True)],
)
def test_dexa_run_leaves_no_process_behind(tmp_path: Path, ending: str, network: bool) -> None:
    """With `network`, commands reach the session's egress proxy through the in-sandbox bridge as well."""
    marker = f"dexaleft{uuid.uuid4().hex[:12]}"
    ws = tmp_path / f"ws-{marker}"
    ws.mkdir()
    mcp = tmp_path / "mcp.json"
    mcp.write_text(
        json.dumps(
            {
                "mcpServers": {
                    "time": {
                        "command": sys.executable,
                        "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"],
                        "env": {"DEXA_LEFTOVER_MARK": marker},
                    }
                }
            }
        )
    )
    script = _script(tmp_path, marker, ending)
    cmd = [
        sys.executable, "-m", "dexa.cli", "run", "-p", "go", "--model", f"scripted:{script}",
        "--mcp-config", str(mcp), "--allowedTools", "mcp__time", "--allowedTools", "Bash",
        "--output-format", "json", *(["--network"] if network else []),
    ]  # fmt: skip
    env = {**os.environ, "DEXA_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen(cmd, cwd=ws, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Mid-run, at the foreground command: the run_in_background job and the MCP server are alive.
        # The background job's shell may exec its `sleep` a moment after the foreground one under load (CI saw the
        # fg before the bg's exec): wait for both rather than sample once.
        def started() -> bool:
            now = _cmdlines(marker)
            return any(f"{marker}-fg" in c for c in now) and any(c.startswith(f"{marker}-bg") for c in now)

        assert _wait(started, 60), (_cmdlines(marker), proc.poll())
        alive = _cmdlines(marker)
        if network:
            assert any("socat" in c for c in alive), alive  # the in-sandbox bridge to the egress proxy
        assert any(c.startswith(f"{marker}-bg") for c in alive), alive
        assert any("mcp_server_time" in c and "bwrap" not in c for c in alive), alive
        if ending in ("sigint", "sigterm"):
            proc.send_signal(signal.SIGINT if ending == "sigint" else signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if ending == "normal":
        assert proc.returncode == 0, err[-3000:]
    else:
        assert proc.returncode != 0, (out, err[-3000:])
    # Exit means gone: no grace period for stragglers.
    left = processes_marked(marker, environ=True)
    assert left == [], [(pid, _describe(pid)) for pid in left]


def _cmdlines(marker: str) -> list[str]:
    return [_describe(pid) for pid in processes_marked(marker, environ=True)]


def _describe(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "(gone)"
