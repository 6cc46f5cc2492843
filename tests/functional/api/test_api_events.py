"""GET /sessions/{id}/events: ids are seqs, Last-Event-ID resumes exactly, poll and buffered modes end with retry."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from api_harness import Api, make_api, wait_for
from fastapi.testclient import TestClient

from dexa.api.sse import StreamConfig


def _frames(body: str) -> list[dict[str, Any]]:
    frames, cur = [], {}
    for line in body.replace("\r\n", "\n").split("\n"):
        if not line:
            if cur:
                frames.append(cur)
            cur = {}
        elif line.startswith(":"):
            cur.setdefault("comments", []).append(line)
        else:
            k, _, v = line.partition(": ")
            cur[k] = v
    return frames


def _session_with_events(api: Api, client: TestClient, n: int = 30) -> str:
    sid = client.post("/sessions", json={}, headers=api.h()).json()["id"]

    async def fill() -> None:
        for i in range(n - 1):
            await api.runtime.engine.emit(sid, "warning", {"message": f"m{i}"})

    asyncio.run(fill())
    return sid


def test_poll_mode_returns_everything_after_the_cursor_then_retry(api: Api, client: TestClient) -> None:
    sid = _session_with_events(api, client)
    r = client.get(f"/sessions/{sid}/events", params={"mode": "poll", "after": 10}, headers=api.h())
    assert r.headers["content-type"].startswith("text/event-stream") and r.headers["cache-control"] == "no-cache"
    frames = _frames(r.text)
    assert [int(f["id"]) for f in frames[:-1]] == list(range(11, 31))
    assert frames[-1] == {"retry": "1000"}
    first = json.loads(frames[0]["data"])
    assert first["seq"] == 11 and frames[0]["event"] == first["type"] == "warning"


def test_last_event_id_wins_over_after_so_reconnects_resume_exactly(api: Api, client: TestClient) -> None:
    sid = _session_with_events(api, client)
    r = client.get(
        f"/sessions/{sid}/events", params={"mode": "poll", "after": 3}, headers={**api.h(), "Last-Event-ID": "25"}
    )
    assert [int(f["id"]) for f in _frames(r.text) if "id" in f] == [26, 27, 28, 29, 30]
    bad = client.get(f"/sessions/{sid}/events", headers={**api.h(), "Last-Event-ID": "abc"})
    assert bad.status_code == 422 and bad.json()["code"] == "validation_error"


def test_live_stream_replays_then_ends_with_retry_at_max_length(api: Api, client: TestClient) -> None:
    sid = _session_with_events(api, client, n=5)
    r = client.get(f"/sessions/{sid}/events", headers=api.h())  # the harness caps live streams at 0.5 s
    frames = _frames(r.text)
    assert frames[0] == {"retry": "1000"} and frames[-1] == {"retry": "1000"}
    assert [int(f["id"]) for f in frames if "id" in f] == [1, 2, 3, 4, 5]


def test_heartbeats_are_comment_lines_on_an_idle_stream(tmp_path: Path) -> None:
    api = make_api(tmp_path, stream=StreamConfig(heartbeat_s=0.1, max_s=0.45, poll_s=0.05))
    with TestClient(api.app) as client:
        sid = client.post("/sessions", json={}, headers=api.h()).json()["id"]
        body = client.get(f"/sessions/{sid}/events", params={"after": 1}, headers=api.h()).text
    assert body.count(": heartbeat") >= 2 and "id:" not in body


def test_buffered_app_answers_every_request_in_poll_mode(tmp_path: Path) -> None:
    api = make_api(tmp_path, stream=StreamConfig(buffered=True, retry_ms=250))
    with TestClient(api.app) as client:
        sid = client.post("/sessions", json={"prompt": "hi"}, headers=api.h()).json()["id"]
        wait_for(lambda: not client.get(f"/sessions/{sid}", headers=api.h()).json()["running"])
        last = client.get(f"/sessions/{sid}", headers=api.h()).json()["last_seq"]
        frames = _frames(client.get(f"/sessions/{sid}/events", headers=api.h()).text)
        assert [int(f["id"]) for f in frames if "id" in f] == list(range(1, last + 1))
        assert frames[-1] == {"retry": "250"}
        empty = _frames(client.get(f"/sessions/{sid}/events", headers={**api.h(), "Last-Event-ID": str(last)}).text)
        assert empty == [{"retry": "250"}]


def test_long_poll_returns_as_soon_as_an_event_is_appended(api: Api) -> None:
    async def main() -> tuple[str, float]:
        import httpx

        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api.app), base_url="http://d") as http:
            sid = (await http.post("/sessions", json={}, headers=api.h())).json()["id"]
            loop = asyncio.get_running_loop()
            started = loop.time()
            poll = asyncio.create_task(
                http.get(
                    f"/sessions/{sid}/events",
                    params={"mode": "poll", "wait": 10},
                    headers={**api.h(), "Last-Event-ID": "1"},
                )
            )
            await asyncio.sleep(0.1)
            await api.runtime.engine.emit(sid, "warning", {"message": "wake up"})
            body = (await poll).text
            return body, loop.time() - started

    body, took = asyncio.run(main())
    assert "wake up" in body and took < 2.0


def test_lambda_via_mangum_answers_the_sample_event_in_poll_mode(tmp_path: Path) -> None:
    from mangum import Mangum

    api = make_api(tmp_path, stream=StreamConfig(buffered=True))
    with TestClient(api.app) as client:
        sid = _session_with_events(api, client, n=4)
    sample = Path(__file__).resolve().parents[3] / "events" / "api_http_v2_get_events.json"
    raw = sample.read_text().replace("ses_example", sid).replace("REPLACE_WITH_API_KEY", api.tokens["a_reviewer"])
    event = json.loads(raw)
    event["headers"]["last-event-id"] = "1"
    response = Mangum(api.app, lifespan="off")(event, None)
    assert response["statusCode"] == 200 and response["headers"]["content-type"].startswith("text/event-stream")
    frames = _frames(response["body"])
    assert [int(f["id"]) for f in frames if "id" in f] == [2, 3, 4] and frames[-1] == {"retry": "1000"}
