# ruff: noqa: E402 - the sys.path fix below must run before any import of the SDK
"""MCP benchmarks: tool-call round trip (stdio, streamable HTTP), server startup, and lazy vs eager schema tokens.

    .venv/bin/python benchmarks/mcp.py [--calls 300]

Targets (issue 7): stdio trivial call p50 <= 5 ms; lazy schema tokens <= 25% of eager with 6 sources connected.
Tokens are estimated at 4 characters per token over the JSON the Messages API receives for each tool.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named like the SDK package; drop its own folder from the path so `import mcp` finds the SDK.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import tempfile
import time

from dexa.adapters.mcp.config import ServerConfig
from dexa.adapters.mcp.connection import McpConnection
from dexa.adapters.mcp.manager import McpManager
from dexa.adapters.mcp.results import CHARS_PER_TOKEN

REPO = Path(__file__).resolve().parents[1]
EVERYTHING = REPO / "tools/mcp/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
TRIVIAL = """
import sys
from mcp.server.mcpserver import MCPServer
mcp = MCPServer("trivial")

@mcp.tool()
def ping(x: int) -> int:
    return x

if len(sys.argv) > 1:
    mcp.run("streamable-http", host="127.0.0.1", port=int(sys.argv[1]), json_response=True, stateless_http=True)
else:
    mcp.run()
"""


def _ms(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"p50 {statistics.median(ordered) * 1000:6.2f} ms   p95 {p95 * 1000:6.2f} ms   (n={len(ordered)})"


async def _round_trips(server: ServerConfig, calls: int) -> tuple[float, list[float]]:
    conn = McpConnection(server)
    started = time.perf_counter()
    await conn.ensure()
    startup = time.perf_counter() - started
    for i in range(10):  # warm up
        await conn.call_tool("ping", {"x": i})
    samples: list[float] = []
    for i in range(calls):
        t0 = time.perf_counter()
        await conn.call_tool("ping", {"x": i})
        samples.append(time.perf_counter() - t0)
    await conn.aclose()
    return startup, samples


async def _startup(server: ServerConfig, runs: int = 3) -> list[float]:
    times: list[float] = []
    for _ in range(runs):
        conn = McpConnection(server)
        t0 = time.perf_counter()
        await conn.ensure()
        await conn.list_tools()
        times.append(time.perf_counter() - t0)
        await conn.aclose()
    return times


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"server on {port} did not start")


async def _schema_tokens() -> tuple[int, int, int]:
    from dexa.integrations.providers.demo import DemoCompany
    from dexa.integrations.servers import BUILDERS, build_server

    demo = DemoCompany()
    servers = [
        ServerConfig(
            name=k,
            transport="inproc",
            scope="managed",
            kind=k,
            trusted=True,
            description=f"{k} (demo company)",
            server_object=build_server(k, getattr(demo, k)),
        )
        for k in BUILDERS
    ]

    def tokens(tools: list) -> int:
        chars = sum(
            len(
                json.dumps(
                    {"name": t.spec.name, "description": t.spec.description, "input_schema": t.spec.input_schema}
                )
            )
            for t in tools
        )
        return chars // CHARS_PER_TOKEN

    counts: list[int] = []
    for lazy in (True, False):
        manager = McpManager(servers)
        counts.append(tokens(await manager.initial_tools(lazy=lazy)))
        await manager.aclose()
    demo.close()
    return counts[0], counts[1], len(servers)


async def main(calls: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "trivial.py"
        script.write_text(TRIVIAL)
        stdio = ServerConfig(name="trivial", transport="stdio", command=sys.executable, args=(str(script),))
        _, samples = await _round_trips(stdio, calls)
        print(f"stdio round trip (trivial tool, via McpConnection): {_ms(samples)}  [target p50 <= 5 ms]")

        port = _free_port()
        proc = subprocess.Popen(
            [sys.executable, str(script), str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            _wait(port)
            http = ServerConfig(name="trivial_http", transport="http", url=f"http://127.0.0.1:{port}/mcp")
            _, http_samples = await _round_trips(http, calls)
            print(f"streamable HTTP round trip (stateless JSON, loopback): {_ms(http_samples)}")
        finally:
            proc.terminate()
            proc.wait(10)

        print("server startup (spawn + handshake + tools/list, mean of 3):")
        targets = [
            ("python MCPServer (trivial)", stdio),
            (
                "mcp-server-time",
                ServerConfig(name="time", transport="stdio", command=sys.executable, args=("-m", "mcp_server_time")),
            ),
        ]
        if EVERYTHING.is_file():
            targets.append(
                (
                    "server-everything (node)",
                    ServerConfig(name="everything", transport="stdio", command="node", args=(str(EVERYTHING), "stdio")),
                )
            )
        else:
            print("  (server-everything skipped: run `npm ci` in tools/mcp)")
        for label, server in targets:
            times = await _startup(server)
            print(f"  {label:28s} {statistics.mean(times) * 1000:7.1f} ms")

    lazy, eager, sources = await _schema_tokens()
    print(
        f"tool schema tokens in the first request, {sources} sources: lazy {lazy}  eager {eager}  "
        f"-> lazy = {lazy / eager:.0%} of eager  [target <= 25%]"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    asyncio.run(main(parser.parse_args().calls))
