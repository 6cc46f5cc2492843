"""Headless `dexa run -p` as a whole process: a scripted 21-request session through the real anthropic SDK
against the loopback Messages-API server.

Session: 10 x [Bash `echo N >> log.txt`, then Read log.txt], then a final text.
Targets (2-core machine): median wall <= 1.2 s, peak RSS <= 150 MiB, sandboxed echo round trip <= 15 ms.
Set CLAUDE_BIN=/path/to/claude to time Claude Code on the same script for comparison.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dexa.testing.messages_api import serve
from dexa.testing.script import Script

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
RUN_CMD = [
    sys.executable,
    "-m",
    "dexa.cli",
    "run",
    "-p",
    "append ten lines",
    "--output-format",
    "json",
    "--allowedTools",
    "Bash",
    "--model",
    "sonnet",
]
EXPECTED_LOG = [str(n) for n in range(1, 11)]


def script_for(ws: Path) -> dict:
    turns = []
    for i in range(1, 11):
        turns.append({"tool_uses": [{"name": "Bash", "input": {"command": f"echo {i} >> log.txt"}}]})
        turns.append({"tool_uses": [{"name": "Read", "input": {"file_path": str(ws / "log.txt")}}]})
    turns.append({"text": "done: 10 lines appended"})
    return {"turns": turns}


def run_once(cmd: list[str], env: dict[str, str], ws: Path) -> tuple[float, dict]:
    start = time.perf_counter()
    out = subprocess.run(cmd, env=env, cwd=ws, capture_output=True, text=True, timeout=120)
    wall = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"run failed ({out.returncode}): {out.stderr[-2000:]}")
    return wall, json.loads(out.stdout.strip().splitlines()[-1])


def bench_dexa(tmp: Path) -> tuple[list[float], int, int]:
    walls: list[float] = []
    requests = 0
    for i in range(RUNS):
        ws = tmp / f"ws{i}"
        ws.mkdir()
        script = tmp / f"script{i}.json"
        script.write_text(json.dumps(script_for(ws)))
        with serve(Script.load(script)) as server:
            env = {
                **os.environ,
                "ANTHROPIC_BASE_URL": server.url,
                "ANTHROPIC_API_KEY": "bench-key",
                "DEXA_HOME": str(tmp / f"home{i}"),
            }
            wall, result = run_once(RUN_CMD, env, ws)
            requests = len(server.message_requests())
        assert result["subtype"] == "success", result
        assert (ws / "log.txt").read_text().split() == EXPECTED_LOG
        walls.append(wall)
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return walls, peak_kib, requests


def bench_attached(tmp: Path) -> tuple[list[float], int]:
    """The same session with `dexa run -p --server URL`: a thin client attached to a warm `dexa serve`
    (OpenCode's split). The server's first session pays the SDK import, so it is a warm-up, not a sample."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    walls: list[float] = []
    peak = 0
    home = tmp / "attached-home"
    # One server and one workspace: the fake picks turns by history, so every session replays the same 21 requests.
    ws0 = tmp / "attached-ws"
    ws0.mkdir()
    (tmp / "attached-script.json").write_text(json.dumps(script_for(ws0)))
    with serve(Script.load(tmp / "attached-script.json")) as server:
        env = {**os.environ, "ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "bench-key", "DEXA_HOME": str(home)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "dexa.cli", "serve", "--port", str(port)],
            env=env,
            cwd=ws0,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(100):
                if (home / "token").exists():
                    break
                time.sleep(0.1)
            time.sleep(0.5)
            client_env = {**env, "DEXA_TOKEN": (home / "token").read_text().strip()}
            cmd = [*RUN_CMD, "--server", f"http://127.0.0.1:{port}"]
            for i in range(RUNS + 1):
                (ws0 / "log.txt").unlink(missing_ok=True)
                wall, result = run_once(cmd, client_env, ws0)
                assert result["subtype"] == "success", result
                assert (ws0 / "log.txt").read_text().split() == EXPECTED_LOG
                if i:
                    walls.append(wall)
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return walls, peak


def bench_echo(tmp: Path) -> list[float]:
    from dexa.adapters.local_sandbox import LocalSandbox

    ws = tmp / "echo"
    ws.mkdir()
    sandbox = LocalSandbox(str(ws), state_dir=tmp / "echo-state")

    async def main() -> list[float]:
        times = []
        for _ in range(60):
            t = time.perf_counter()
            res = await sandbox.exec("echo hi", cwd=str(ws))
            times.append((time.perf_counter() - t) * 1000)
            assert res.stdout.strip() == "hi"
        await sandbox.close()
        return times[10:]

    return asyncio.run(main())


def bench_claude(tmp: Path, claude: str) -> list[float]:
    walls = []
    for i in range(RUNS):
        ws = tmp / f"cc{i}"
        ws.mkdir()
        script = tmp / f"cc-script{i}.json"
        script.write_text(json.dumps(script_for(ws)))
        with serve(Script.load(script)) as server:
            env = {
                **os.environ,
                "ANTHROPIC_BASE_URL": server.url,
                "ANTHROPIC_API_KEY": "bench-key",
                "HOME": str(tmp / f"cchome{i}"),
                "DISABLE_AUTOUPDATER": "1",
                "CLAUDE_CODE_ENABLE_TELEMETRY": "0",
            }
            cmd = [claude, "-p", "append ten lines", "--output-format", "json", "--allowedTools", "Bash,Read"]
            wall, _ = run_once(cmd, env, ws)
        walls.append(wall)
    return walls


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="dexa-bench-"))
    try:
        walls, peak_kib, requests = bench_dexa(tmp)
        echo = bench_echo(tmp)
        attached, _ = bench_attached(tmp)
        print(f"headless session: {requests} model requests, {RUNS} runs")
        print(
            f"  wall median {statistics.median(walls):.3f} s  min {min(walls):.3f} s  max {max(walls):.3f} s"
            "  (target <= 1.2 s)"
        )
        print(f"  peak RSS {peak_kib / 1024:.1f} MiB  (target <= 150 MiB)")
        print(
            f"  attached to a warm `dexa serve` (dexa run -p --server): wall median {statistics.median(attached):.3f} s"
            f"  min {min(attached):.3f} s"
        )
        print(
            f"sandboxed echo round trip: median {statistics.median(echo):.2f} ms  "
            f"p95 {sorted(echo)[int(len(echo) * 0.95)]:.2f} ms  (target <= 15 ms)"
        )
        claude = os.environ.get("CLAUDE_BIN") or shutil.which("claude")
        if claude:
            cc = bench_claude(tmp, claude)
            print(f"claude code, same script: wall median {statistics.median(cc):.3f} s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
