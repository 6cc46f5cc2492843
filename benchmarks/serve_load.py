"""Load on one `dexa serve`: N concurrent sessions, each a turn of M tool calls with a scripted model (20 ms).

    .venv/bin/python benchmarks/serve_load.py [--sessions 100] [--tool-calls 10] [--model-ms 20]

Starts a real `dexa serve` subprocess (DEXA_BENCH_FAKE_ENV=1: offline model, plain directory workspace), opens one
SSE stream per session before prompting it, and checks that every session completes and that each stream holds
every event of its session exactly once, in order. Prints throughput, the delay from event append (event.ts) to
SSE delivery (p50/p99; target p99 <= 100 ms) and the server's RSS (target <= 1 GB). Exit status 1 on a miss.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

DEXA = str(Path(sys.executable).parent / "dexa")


@dataclass
class Stream:
    session_id: str
    seqs: list[int] = field(default_factory=list)
    delays_ms: list[float] = field(default_factory=list)
    appended: list[float] = field(default_factory=list)
    tool_calls: int = 0
    done_at: float = 0.0
    reconnects: int = 0


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_kb(pid: int) -> tuple[int, int]:
    """(current RSS, peak RSS) of a process in kB, from /proc."""
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields.get("VmRSS", 0), fields.get("VmHWM", 0)


async def _follow(http: httpx.AsyncClient, stream: Stream, ready: asyncio.Event) -> None:
    """Read the session's stream; on a dropped connection resume with Last-Event-ID, as any client must."""
    while True:
        # seq 1 (session.created) predates the stream: measure live events only
        headers = {"Last-Event-ID": str(stream.seqs[-1] if stream.seqs else 1)}
        try:
            async with http.stream("GET", f"/sessions/{stream.session_id}/events", headers=headers) as resp:
                resp.raise_for_status()
                ready.set()
                if await _read(resp, stream):
                    return
        except (httpx.ReadError, httpx.RemoteProtocolError):
            pass
        stream.reconnects += 1


async def _read(resp: httpx.Response, stream: Stream) -> bool:
    """Consume frames until session.idle (True) or the end of the response (False)."""
    event, data = "", ""
    async for line in resp.aiter_lines():
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data = line[6:]
        elif line == "" and data:
            now = time.time()
            ev = json.loads(data)
            stream.seqs.append(ev["seq"])
            stream.delays_ms.append((now - ev["ts"]) * 1000)
            stream.appended.append(ev["ts"])
            stream.tool_calls += event == "tool.completed"
            if event == "session.idle":
                stream.done_at = now
                return True
            event, data = "", ""
    return False


async def _one(http: httpx.AsyncClient, cwd: str, timeout: float) -> Stream:
    sid = (await http.post("/sessions", json={"cwd": cwd})).raise_for_status().json()["id"]
    stream = Stream(session_id=sid)
    ready = asyncio.Event()
    follower = asyncio.create_task(_follow(http, stream, ready))
    waiting = asyncio.create_task(ready.wait())
    await asyncio.wait({follower, waiting}, return_when=asyncio.FIRST_COMPLETED)
    if follower.done():
        waiting.cancel()
        follower.result()  # the stream could not even open: raise why
    (await http.post(f"/sessions/{sid}/messages", json={"prompt": f"work {sid}"})).raise_for_status()
    try:
        await asyncio.wait_for(follower, timeout)
    except TimeoutError:
        print(f"session {sid}: no session.idle within {timeout:.0f} s (got {len(stream.seqs)} events)", file=sys.stderr)
    return stream


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def _run(url: str, token: str, args: argparse.Namespace, cwd: str) -> tuple[list[Stream], float, list[dict]]:
    limits = httpx.Limits(max_connections=args.sessions * 3, max_keepalive_connections=args.sessions * 3)
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, limits=limits, timeout=httpx.Timeout(60, read=120)
    ) as http:
        started = time.monotonic()
        streams = await asyncio.gather(*(_one(http, cwd, args.timeout) for _ in range(args.sessions)))
        wall = time.monotonic() - started
        finals = [(await http.get(f"/sessions/{s.session_id}")).json() for s in streams]
    return list(streams), wall, finals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--tool-calls", type=int, default=10)
    parser.add_argument("--model-ms", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=120, help="per-session limit before it counts as lost")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="dexa-serve-load-"))
    env = {
        **os.environ,
        "DEXA_HOME": str(home),
        "DEXA_BENCH_FAKE_ENV": "1",
        "DEXA_BENCH_TOOL_CALLS": str(args.tool_calls),
        "DEXA_BENCH_MODEL_DELAY_MS": str(args.model_ms),
        "DEXA_RATE_LIMIT": "1000000:1000000",
    }
    server = subprocess.Popen([DEXA, "serve", "--port", "0"], env=env, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    line = server.stdout.readline()
    if "listening on" not in line:
        print(f"dexa serve did not start: {line!r}", file=sys.stderr)
        return 1
    url = line.split("listening on ")[1].split()[0]
    token = (home / "token").read_text().strip()
    try:
        cpu_before = _cpu_s(server.pid)
        streams, wall, finals = asyncio.run(_run(url, token, args, str(home / "bench" / "workspace")))
        server_cpu = _cpu_s(server.pid) - cpu_before
        rss_kb, peak_kb = _rss_kb(server.pid)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)

    lost = dup = incomplete = 0
    for stream, final in zip(streams, finals, strict=True):
        expected = list(range(2, final["last_seq"] + 1))
        dup += len(stream.seqs) - len(set(stream.seqs))
        lost += len(set(expected) - set(stream.seqs))
        if stream.seqs != expected or final["turns_completed"] != 1 or stream.tool_calls != args.tool_calls:
            incomplete += 1
    for stream, final in zip(streams, finals, strict=True):
        if not stream.done_at:
            print(
                f"incomplete {stream.session_id}: status={final['status']} step={final['step']} "
                f"turn={final['turn']} running={final['running']} last_seq={final['last_seq']} "
                f"received={len(stream.seqs)} error={final['error']!r}",
                file=sys.stderr,
            )
    delays = [d for s in streams for d in s.delays_ms] or [0.0]
    events = sum(len(s.seqs) for s in streams)
    tool_calls = sum(s.tool_calls for s in streams)
    p50, p99 = _pct(delays, 50), _pct(delays, 99)
    print(f"sessions            {len(streams)} x {args.tool_calls} tool calls, model {args.model_ms} ms/answer")
    print(f"wall time           {wall:.2f} s")
    print(
        f"throughput          {events / wall:,.0f} events/s, {tool_calls / wall:,.0f} tool calls/s, "
        f"{len(streams) / wall:.1f} sessions/s"
    )
    print(
        f"events delivered    {events} (lost {lost}, duplicated {dup}, sessions incomplete {incomplete}; "
        f"{sum(s.reconnects for s in streams)} stream reconnects)"
    )
    print(
        f"append->SSE delay   p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(delays):.1f} ms, "
        f"mean {statistics.fmean(delays):.1f} ms"
    )
    start = min((t for st in streams for t in st.appended), default=0.0)
    steady = [d for st in streams for t, d in zip(st.appended, st.delays_ms, strict=True) if t - start > 3.0]
    if steady:
        print(
            f"  after ramp-up     p50 {_pct(steady, 50):.1f} ms, p99 {_pct(steady, 99):.1f} ms "
            f"({len(steady)} events appended > 3 s after the first)"
        )
    print(
        f"server CPU          {server_cpu:.2f} s ({server_cpu / wall:.0%} of one core; "
        f"{server_cpu / max(events, 1) * 1e6:.0f} us per event); host load average {os.getloadavg()[0]:.1f}"
    )
    print(f"server RSS          {rss_kb / 1024:.0f} MB now, {peak_kb / 1024:.0f} MB peak")
    ok = lost == 0 and dup == 0 and incomplete == 0 and p99 <= 100 and peak_kb <= 1024 * 1024
    print("RESULT              " + ("PASS" if ok else "FAIL (targets: 0 lost/dup, p99 <= 100 ms, RSS <= 1 GB)"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
