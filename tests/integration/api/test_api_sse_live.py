"""Live SSE over a real uvicorn server: random connection drops, exact resume, two clients on one session."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import httpx
from live_server import build_app, live_server

from dexa.api.fake_runtime import tool_loop_model
from dexa.api.sse import StreamConfig
from dexa.client import DexaClient
from dexa.core.errors import ConflictError
from dexa.testing.fakes import RulePolicy
from dexa.testing.scripted import FunctionModel, text, tool_use


def _complete_frames(buffer: bytes) -> tuple[list[dict[str, str]], bytes]:
    """Frames fully received so far, and the unfinished tail (dropped with the connection)."""
    frames = []
    *done, tail = buffer.replace(b"\r\n", b"\n").split(b"\n\n")
    for block in done:
        frame: dict[str, str] = {}
        for line in block.decode().split("\n"):
            if line and not line.startswith(":"):
                key, _, value = line.partition(": ")
                frame[key] = value
        if "id" in frame:
            frames.append(frame)
    return frames, tail


async def _read_with_drops(base: str, token: str, sid: str, rng: random.Random) -> tuple[list[int], int]:
    """Reconnect until the turn is over, cutting each connection after a random number of bytes."""
    seen: list[int] = []
    reconnects = 0
    async with httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(10, read=10)) as http:
        while True:
            budget = rng.randint(40, 1500)  # often mid-frame
            headers = {"Authorization": f"Bearer {token}", "Last-Event-ID": str(seen[-1] if seen else 0)}
            buffer = b""
            async with http.stream("GET", f"/sessions/{sid}/events", headers=headers) as resp:
                assert resp.status_code == 200
                async for chunk in resp.aiter_raw():
                    buffer = (buffer + chunk)[:budget]
                    frames, _ = _complete_frames(buffer)
                    if len(buffer) >= budget or any(f["event"] == "session.idle" for f in frames):
                        break
            for frame in _complete_frames(buffer)[0]:
                seen.append(int(frame["id"]))
                if frame["event"] == "session.idle":
                    return seen, reconnects
            reconnects += 1


def test_sse_resumes_exactly_after_connections_drop_at_random_points(tmp_path: Path) -> None:
    app, runtime, tokens = build_app(tmp_path, model=tool_loop_model(tool_calls=20, delay_s=0.01))
    with live_server(app) as base:
        sid = httpx.post(
            f"{base}/sessions", json={"prompt": "work"}, headers={"Authorization": f"Bearer {tokens['member']}"}
        ).json()["id"]
        seen, reconnects = asyncio.run(_read_with_drops(base, tokens["admin"], sid, random.Random(4)))
        last = asyncio.run(runtime.store.last_seq(sid))
    assert len(seen) >= 100 and reconnects >= 20
    assert seen == list(range(1, last + 1)), "every event exactly once, in order"


def _ask_then_done(request: Any) -> Any:
    if request.messages[-1].tool_results:
        return text("finished")
    return tool_use("Append", {"path": "x.txt", "line": "1"})


def test_two_clients_stream_the_same_events_and_either_can_approve(tmp_path: Path) -> None:
    app, _, tokens = build_app(tmp_path, model=FunctionModel(_ask_then_done), policy=RulePolicy(ask={"Append"}))

    async def watch(client: DexaClient, sid: str, approve: bool) -> tuple[list[int], str]:
        seqs, outcome = [], "none"
        async for ev in client.events(sid):
            seqs.append(ev.seq)
            if ev.type == "permission.required":
                try:
                    await client.approve(sid, ev.data["approval_id"], "once" if approve else "deny")
                    outcome = "won"
                except ConflictError as exc:
                    outcome = exc.code
            if ev.type == "session.idle":
                return seqs, outcome
        raise AssertionError("stream ended early")

    async def main(base: str) -> None:
        async with DexaClient(base, tokens["member"]) as one, DexaClient(base, tokens["reviewer"]) as two:
            sid = (await one.create_session(prompt="append")).id
            (a, oa), (b, ob) = await asyncio.wait_for(asyncio.gather(watch(one, sid, True), watch(two, sid, False)), 20)
            assert a == b == list(range(1, len(a) + 1))
            assert sorted([oa, ob]) == ["already_decided", "won"]
            session = await one.get_session(sid)
            assert session.result == "finished"

    with live_server(app) as base:
        asyncio.run(main(base))


def test_idle_streams_carry_heartbeats_and_close_with_retry(tmp_path: Path) -> None:
    app, _, tokens = build_app(
        tmp_path,
        model=tool_loop_model(tool_calls=0, delay_s=0),
        stream=StreamConfig(heartbeat_s=0.2, max_s=1.0, poll_s=0.5),
    )
    with live_server(app) as base:
        h = {"Authorization": f"Bearer {tokens['admin']}"}
        sid = httpx.post(f"{base}/sessions", json={}, headers=h).json()["id"]
        with httpx.stream("GET", f"{base}/sessions/{sid}/events", headers={**h, "Last-Event-ID": "1"}) as resp:
            body = b"".join(resp.iter_raw()).decode()
    assert body.count(": heartbeat") >= 3
    assert body.rstrip().endswith("retry: 1000")
    assert "data:" not in body and json.dumps(sid) not in body
