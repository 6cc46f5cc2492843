"""Shared parts of the sandbox attack tests: a workspace with an outside canary, /proc scans, listeners."""

from __future__ import annotations

import asyncio
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dexa.adapters.local_sandbox import probe_bwrap

needs_bwrap = pytest.mark.skipif(probe_bwrap() is not None, reason=f"bubblewrap unusable: {probe_bwrap()}")


def make_workspace(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(workspace root, state dir, outside canary dir); the canary sits next to the workspace."""
    root = tmp_path / "ws"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "canary.txt").write_text("CANARY\n")
    return root.resolve(), tmp_path / "state", outside


def tree_digest(top: Path) -> dict[str, str]:
    """Every entry under `top` with its kind and content hash: compared before and after an attack."""
    state: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(top))
            if p.is_symlink():
                state[rel] = "link:" + os.readlink(p)
            elif p.is_dir():
                state[rel] = "dir"
            else:
                state[rel] = "file:" + hashlib.sha256(p.read_bytes()).hexdigest()
    return state




@dataclass
class Recorder:
    """A listener that records what reached it (request lines, or just connections)."""

    connections: int = 0
    request_lines: list[str] = field(default_factory=list)
    server: asyncio.AbstractServer | None = None
    port: int = 0


async def fake_proxy(path: str) -> Recorder:
    """The egress proxy's stand-in on a Unix socket: answers 200 to any request and records its request line."""
    rec = Recorder()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        rec.connections += 1
        head = await reader.readuntil(b"\r\n\r\n")
        rec.request_lines.append(head.split(b"\r\n", 1)[0].decode())
        body = b"hello from the proxy\n"
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()

    rec.server = await asyncio.start_unix_server(handle, path=path)
    return rec


async def host_listener() -> Recorder:
    """A TCP listener on the host's 127.0.0.1, standing for the control plane (the admin page, the API)."""
    rec = Recorder()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        rec.connections += 1
        writer.write(b"HTTP/1.1 200 OK\r\nSet-Cookie: admin=SECRET-ADMIN-KEY\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    rec.server = await asyncio.start_server(handle, host="127.0.0.1", port=0)
    rec.port = rec.server.sockets[0].getsockname()[1]
    return rec
