"""Headless `dexa run -p` against the pinned Claude Code, as whole processes: a scripted 21-request session through
the real anthropic SDK (and Claude Code's own client) against the loopback Messages-API server, offline.

    .venv/bin/python benchmarks/headless.py        # BENCH_RUNS=5 alternating runs of each

Session: 10 x [Bash `echo N >> log.txt`, then Read log.txt], then a final text. Dexa and Claude Code
(tools/claude-code/node_modules/.bin/claude, or CLAUDE_BIN) run alternately so machine load hits both alike; each
process's wall, CPU (user + sys of it and its children, from wait4) and peak RSS are measured, and the medians and
the Dexa/Claude Code ratios printed, with the wall and CPU each had reached when the model server got its first
Messages request (start-up: the process's own CPU, from /proc). Targets (issue 18): wall ratio <= 0.5 cold, peak
RSS <= 150 MiB.

Cold means a new process with no daemon running, as a user's next `dexa run -p` (or `claude -p`) is: each side
keeps one home (DEXA_HOME / HOME) across its runs, so per-machine caches such as bashlex's parse tables are built by
the first run only, as on a user's machine; the first run is one of the samples. BENCH_FRESH_HOME=1 gives every run
a new home (first-run-on-a-machine figures).

Then: the same `dexa run -p` command with a `dexa serve` running for its DEXA_HOME, which it attaches to by itself
(cli/attach.py; the client is cli/attached.py on the standard library: a cold thin client, a warm engine); the
engine's top five costs per request under cProfile (imports excluded: the CLI module tree is imported before
profiling starts); and the heaviest imports from `-X importtime`. The load average is printed next to the figures.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dexa.testing.messages_api import FakeMessagesServer, serve
from dexa.testing.script import Script

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
FRESH_HOME = os.environ.get("BENCH_FRESH_HOME") == "1"
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
ROOT = Path(__file__).resolve().parents[1]
PINNED_CLAUDE = ROOT / "tools" / "claude-code" / "node_modules" / ".bin" / "claude"


@dataclass
class Sample:
    wall: float
    cpu: float
    rss_mib: float
    # At the moment the model server has the process's first Messages request (None when not watched): wall from
    # spawn, and the CPU of the process itself so far (/proc; its children are not counted until reaped).
    first_wall: float | None = None
    first_cpu: float | None = None


def _process_cpu(pid: int) -> float | None:
    """utime + stime of a running process, from /proc (Linux); None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _watch_first_request(server: FakeMessagesServer, start: float, pid: list[int]) -> dict[str, float | None]:
    """Note wall and CPU when `server` records its first Messages request (the server calls `record` on its handler
    thread once the request is read, before it answers)."""
    seen: dict[str, float | None] = {}
    record = server.record

    def watched(entry: dict) -> None:
        if not seen and entry["path"].startswith("/v1/messages") and "count_tokens" not in entry["path"]:
            seen["wall"] = time.perf_counter() - start
            seen["cpu"] = _process_cpu(pid[0]) if pid else None
        record(entry)

    server.record = watched  # type: ignore[method-assign]
    return seen


def measure(
    cmd: list[str], env: dict[str, str], ws: Path, server: FakeMessagesServer | None = None
) -> tuple[Sample, dict]:
    """Run one process to completion; wall from spawn to reap, CPU and peak RSS from its own rusage (wait4: the
    process and the children it waited for, not the rest of this benchmark). With `server`, also the wall and CPU at
    its first model request."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        pid: list[int] = []
        start = time.perf_counter()
        first = _watch_first_request(server, start, pid) if server is not None else {}
        proc = subprocess.Popen(cmd, env=env, cwd=ws, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        pid.append(proc.pid)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        if server is not None:
            del server.record  # type: ignore[attr-defined]  # the class's own again
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here; Popen must not wait for it again
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}): {stderr[-2000:]}")
    sample = Sample(
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        rss_mib=usage.ru_maxrss / 1024,
        first_wall=first.get("wall"),
        first_cpu=first.get("cpu"),
    )
    return sample, json.loads(stdout.strip().splitlines()[-1])


def script_for(ws: Path) -> dict:
    turns = []
    for i in range(1, 11):
        turns.append({"tool_uses": [{"name": "Bash", "input": {"command": f"echo {i} >> log.txt"}}]})
        turns.append({"tool_uses": [{"name": "Read", "input": {"file_path": str(ws / "log.txt")}}]})
    turns.append({"text": "done: 10 lines appended"})
    return {"turns": turns}


def user_env() -> dict[str, str]:
    """This environment as a user's shell has it: an installed package's bytecode is compiled at install (pip does),
    so a development shell's PYTHONDONTWRITEBYTECODE (every module compiled from source in every process, ~0.1-0.2 s
    of CPU here) is dropped; the first run writes the caches."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def dexa_env(server_url: str, home: Path) -> dict[str, str]:
    return {**user_env(), "ANTHROPIC_BASE_URL": server_url, "ANTHROPIC_API_KEY": "bench-key", "DEXA_HOME": str(home)}


def claude_env(server_url: str, home: Path) -> dict[str, str]:
    # Offline, as tests/integration/parity runs it: a fresh HOME, no updater, no telemetry.
    return {
        "PATH": os.environ.get("PATH", ""),
        "LANG": "C.UTF-8",
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": server_url,
        "ANTHROPIC_API_KEY": "bench-key",
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_ENABLE_TELEMETRY": "0",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
    }


def one_session(
    tmp: Path, name: str, cmd: list[str], env_for: Callable[[str, Path], dict[str, str]], home: str
) -> tuple[Sample, int]:
    ws = tmp / f"ws-{name}"
    ws.mkdir()
    script = tmp / f"script-{name}.json"
    script.write_text(json.dumps(script_for(ws)))
    with serve(Script.load(script)) as server:
        sample, result = measure(cmd, env_for(server.url, tmp / f"home-{name if FRESH_HOME else home}"), ws, server)
        requests = len(server.message_requests())
    assert result.get("subtype") == "success" and not result.get("is_error"), result
    assert (ws / "log.txt").read_text().split() == EXPECTED_LOG, name
    return sample, requests


def claude_cmd(claude: str) -> list[str]:
    return [claude, "-p", "append ten lines", "--output-format", "json", "--allowedTools", "Bash,Read"]


def bench_attached(tmp: Path) -> list[Sample]:
    """The same command with a `dexa serve` running for the same DEXA_HOME and environment: `dexa run -p` finds it
    through `$DEXA_HOME/serve.json` and runs as its thin client (OpenCode's split), without --server. The server's
    first session pays the SDK import, so it is a warm-up, not a sample."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    walls: list[Sample] = []
    home = tmp / "attached-home"
    # One server and one workspace: the fake picks turns by history, so every session replays the same 21 requests.
    ws0 = tmp / "attached-ws"
    ws0.mkdir()
    (tmp / "attached-script.json").write_text(json.dumps(script_for(ws0)))
    with serve(Script.load(tmp / "attached-script.json")) as server:
        env = dexa_env(server.url, home)
        proc = subprocess.Popen(
            [sys.executable, "-m", "dexa.cli", "serve", "--port", str(port)],
            env=env,
            cwd=ws0,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            # Ready when it has recorded itself for auto-attach (it listens by then); the client has the same
            # environment, so the record's fingerprint matches.
            deadline = time.monotonic() + 120
            while not (home / "serve.json").exists():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"dexa serve exited ({proc.returncode}) or never listened")
                time.sleep(0.1)
            assert json.loads((home / "serve.json").read_text())["pid"] == proc.pid
            for i in range(RUNS + 1):
                (ws0 / "log.txt").unlink(missing_ok=True)
                sample, result = measure(RUN_CMD, env, ws0)
                assert result["subtype"] == "success", result
                assert (ws0 / "log.txt").read_text().split() == EXPECTED_LOG
                if i:
                    walls.append(sample)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return walls


def bench_echo(tmp: Path) -> list[float]:
    from dexa.adapters.local_sandbox import LocalSandbox

    ws = tmp / "echo"
    ws.mkdir()
    sandbox = LocalSandbox(str(ws), state_dir=str(tmp / "echo-state"))

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


PROFILE_DRIVER = """
import cProfile, os, sys, time
import dexa.cli.main
sys.argv = ["dexa", *sys.argv[2:]]


def session():
    try:
        dexa.cli.main.main()
    except SystemExit:
        pass


# A first, unprofiled session imports everything the request path pulls in lazily (SDK, tools, agents); the
# profiled second one, same process and workspace, is the engine's own work per request.
session()
os.remove("log.txt")
prof = cProfile.Profile(time.process_time)  # CPU, not wall: waiting on the model server or a sandbox is free
prof.enable()
session()
prof.disable()
prof.dump_stats(OUT)
"""


def profile_engine(tmp: Path, requests: int) -> list[tuple[float, float, str]]:
    """(own ms per request, cumulative ms per request, function) of the five costliest functions by own CPU time
    in a second Dexa session of one process (the first one did the imports), after a first row with the total."""
    import pstats

    out = tmp / "engine.prof"
    driver = PROFILE_DRIVER.replace("OUT", repr(str(out)))
    ws = tmp / "ws-profile"
    ws.mkdir()
    script = tmp / "script-profile.json"
    script.write_text(json.dumps(script_for(ws)))
    with serve(Script.load(script)) as server:
        cmd = [sys.executable, "-c", driver, "--", *RUN_CMD[3:]]
        measure_env = dexa_env(server.url, tmp / ("home-profile" if FRESH_HOME else "home-dexa"))
        proc = subprocess.run(cmd, env=measure_env, cwd=ws, capture_output=True, text=True, timeout=180)
        if proc.returncode not in (0, None):
            raise SystemExit(f"profiled run failed: {proc.stderr[-2000:]}")
    stats = pstats.Stats(str(out))
    rows = []
    for (filename, line, func), (_cc, _nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if "importlib" in filename or func in ("<module>", "<built-in method builtins.exec>"):
            continue
        where = f"{Path(filename).name}:{line}({func})" if line else func
        rows.append((tt * 1000 / max(requests, 1), ct * 1000 / max(requests, 1), where))
    rows.sort(reverse=True)
    total = sum(tt for (_f, _l, _fn), (_cc, _nc, tt, _ct, _c) in stats.stats.items()) * 1000  # type: ignore[attr-defined]
    return [(total / max(requests, 1), 0.0, "TOTAL profiled CPU per request"), *rows[:5]]


def import_top(tmp: Path, n: int = 10) -> list[tuple[int, int, str]]:
    """(self us, cumulative us, module) of the heaviest imports of one `dexa run -p` session, by cumulative time,
    top-level imports only (nesting depth 0), after a first line with the total."""
    ws = tmp / "ws-imports"
    ws.mkdir()
    script = tmp / "script-imports.json"
    script.write_text(json.dumps(script_for(ws)))
    with serve(Script.load(script)) as server:
        cmd = [sys.executable, "-X", "importtime", *RUN_CMD[1:]]
        proc = subprocess.run(
            cmd,
            env=dexa_env(server.url, tmp / ("home-imports" if FRESH_HOME else "home-dexa")),
            cwd=ws,
            capture_output=True,
            text=True,
            timeout=180,
        )
    rows: list[tuple[int, int, str]] = []
    count = total = 0
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cum_us, name = line[len("import time:") :].split("|")
        count += 1
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        if depth == 0:
            total += int(cum_us)
            rows.append((int(self_us), int(cum_us), name.strip()))
    rows.sort(key=lambda r: r[1], reverse=True)
    return [(0, total, f"all {count} modules imported"), *rows[:n]]


def med(samples: list[Sample], attr: str) -> float:
    return statistics.median(getattr(s, attr) for s in samples)


def first_request(samples: list[Sample]) -> str:
    walls = [s.first_wall for s in samples if s.first_wall is not None]
    cpus = [s.first_cpu for s in samples if s.first_cpu is not None]
    if not walls:
        return "not seen"
    cpu = f", CPU {statistics.median(cpus):.3f} s (the process itself)" if cpus else ""
    return f"wall {statistics.median(walls):.3f} s{cpu}"


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="dexa-bench-"))
    claude = os.environ.get("CLAUDE_BIN") or (str(PINNED_CLAUDE) if PINNED_CLAUDE.exists() else shutil.which("claude"))
    try:
        load_before = os.getloadavg()
        dexa: list[Sample] = []
        cc: list[Sample] = []
        requests = cc_requests = 0
        for i in range(RUNS):  # alternating, so load changes hit both sides alike
            sample, requests = one_session(tmp, f"dexa{i}", RUN_CMD, dexa_env, "dexa")
            dexa.append(sample)
            if claude:
                sample, cc_requests = one_session(tmp, f"cc{i}", claude_cmd(claude), claude_env, "cc")
                cc.append(sample)
        load_after = os.getloadavg()
        homes = "a new home per run" if FRESH_HOME else "one home per side across runs"
        print(
            f"headless session: {requests} model requests (Claude Code: {cc_requests}), {RUNS} alternating runs "
            f"each, {homes}"
        )
        print(f"{'':14} {'wall s':>8} {'CPU s':>8} {'peak RSS MiB':>13}   (medians)")
        print(f"{'dexa run -p':14} {med(dexa, 'wall'):8.3f} {med(dexa, 'cpu'):8.3f} {med(dexa, 'rss_mib'):13.1f}")
        if cc:
            print(f"{'claude -p':14} {med(cc, 'wall'):8.3f} {med(cc, 'cpu'):8.3f} {med(cc, 'rss_mib'):13.1f}")
            ratios = [med(dexa, a) / med(cc, a) for a in ("wall", "cpu", "rss_mib")]
            print(f"{'dexa / claude':14} {ratios[0]:8.2f}x {ratios[1]:7.2f}x {ratios[2]:12.2f}x")
            verdict = "ok" if ratios[0] <= 0.5 else "OVER TARGET"
            print(f"  wall ratio target <= 0.5 cold: {verdict}")
        else:
            print("  Claude Code not found (make test-deps, or CLAUDE_BIN=...): no comparison")
        print(f"  dexa peak RSS target <= 150 MiB: {'ok' if med(dexa, 'rss_mib') <= 150 else 'OVER TARGET'}")
        print(f"  to the first model request (medians): dexa {first_request(dexa)}")
        if cc:
            print(f"  {'':33} claude {first_request(cc)}")
        print(f"  dexa walls: {' '.join(f'{s.wall:.2f}' for s in dexa)}")
        if cc:
            print(f"  claude walls: {' '.join(f'{s.wall:.2f}' for s in cc)}")
        fmt = ", ".join
        print(
            f"  load average before {fmt(f'{x:.1f}' for x in load_before)}, after {fmt(f'{x:.1f}' for x in load_after)}"
            f" on {os.cpu_count()} CPUs"
        )

        attached = bench_attached(tmp)
        print(
            f"auto-attached to a warm `dexa serve` (same dexa run -p command): wall {med(attached, 'wall'):.3f} s, "
            f"client CPU {med(attached, 'cpu'):.3f} s, client peak RSS {med(attached, 'rss_mib'):.1f} MiB"
            + (f", wall ratio {med(attached, 'wall') / med(cc, 'wall'):.2f}x" if cc else "")
        )
        echo = bench_echo(tmp)
        print(
            f"sandboxed echo round trip: median {statistics.median(echo):.2f} ms  "
            f"p95 {sorted(echo)[int(len(echo) * 0.95)]:.2f} ms  (target <= 15 ms)"
        )
        print("engine CPU per request under cProfile (imports excluded), top five by own time:")
        for tt, ct, where in profile_engine(tmp, requests or 21):
            print(f"  {tt:8.2f} ms own  {ct:8.2f} ms cumulative  {where}")
        print("imports of one `dexa run -p` (-X importtime), heaviest top-level by cumulative time:")
        for self_us, cum_us, name in import_top(tmp):
            print(f"  {cum_us / 1000:8.1f} ms cumulative  {self_us / 1000:7.1f} ms self  {name}")
        print(f"load average now {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
