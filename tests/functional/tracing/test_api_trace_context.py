"""A client's trace continues through `dexa serve`: the traceparent header of POST /sessions/{id}/messages becomes the
parent of the request's span, under which the turn the in-process driver runs (on the API's turn worker loop,
another thread) is recorded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from otlp_receiver import OtlpReceiver

from dexa.testing.messages_api import serve
from dexa.testing.script import Script

CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"


def test_a_traceparent_header_on_a_message_continues_the_trace_into_the_turn(tmp_path: Path) -> None:
    home, ws = tmp_path / "home", tmp_path / "ws"
    ws.mkdir()
    with OtlpReceiver() as receiver, serve(Script.from_dict({"turns": [{"text": "traced"}]})) as model:
        env = {
            **os.environ,
            "DEXA_HOME": str(home),
            "ANTHROPIC_BASE_URL": model.url,
            "ANTHROPIC_API_KEY": "k",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "OTEL_BSP_SCHEDULE_DELAY": "50",  # export within the test's patience, not every 5 s
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "dexa.cli", "serve", "--port", "0"],
            env=env,
            cwd=ws,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            assert "listening on" in first, first
            url = first.split("listening on ")[1].split()[0]
            token = (home / "token").read_text().strip()
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
                created = http.post("/sessions", json={})
                assert created.status_code == 201, created.text
                sid = created.json()["id"]
                sent = http.post(
                    f"/sessions/{sid}/messages",
                    json={"prompt": "hi"},
                    headers={"traceparent": f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"},
                )
                assert sent.status_code == 202, sent.text
                deadline = time.monotonic() + 60
                while not any(s["name"] == "invoke_agent dexa" for s in receiver.spans):
                    assert time.monotonic() < deadline, [s["name"] for s in receiver.spans]
                    time.sleep(0.05)
                assert http.get(f"/sessions/{sid}").json()["result"] == "traced"
            # `dexa trace --server` rebuilds the same session's tree from the server's event log.
            remote = subprocess.run(
                [sys.executable, "-m", "dexa.cli", "trace", sid, "--server", url, "--json"],
                env={**env, "DEXA_TOKEN": token, "DEXA_HOME": str(tmp_path / "elsewhere")},
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert remote.returncode == 0, remote.stderr
            (replayed,) = json.loads(remote.stdout)["spans"]
            assert replayed["name"] == "invoke_agent dexa" and replayed["attributes"]["dexa.turn.subtype"] == "success"
            assert [c["name"].split(" ")[0] for c in replayed["children"]] == ["chat"]
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)

    spans = receiver.spans
    by_id = {s["span_id"]: s for s in spans}

    def ancestors(span: dict[str, object]) -> list[str]:
        chain: list[str] = []
        while span["parent_span_id"] in by_id:
            span = by_id[str(span["parent_span_id"])]
            chain.append(str(span["name"]))
        return chain

    # FastAPI's own server span (its OpenTelemetry support, on once a tracer provider is set) continues the header.
    (request,) = [s for s in spans if s["name"] == "POST /sessions/{session_id}/messages"]
    assert request["trace_id"] == CLIENT_TRACE and request["parent_span_id"] == CLIENT_SPAN
    # The turn was submitted inside that request (on the turn worker's loop): its span is in the request's tree.
    (turn,) = [s for s in spans if s["name"] == "invoke_agent dexa"]
    assert turn["trace_id"] == CLIENT_TRACE
    assert "POST /sessions/{session_id}/messages" in ancestors(turn)
    steps = [s for s in spans if s["parent_span_id"] == turn["span_id"]]
    assert {s["name"] for s in steps} == {"dexa.step begin_turn", "dexa.step call_model", "dexa.step end_turn"}
    (chat,) = [s for s in spans if s["name"].startswith("chat ")]
    assert ancestors(chat)[:2] == ["dexa.step call_model", "invoke_agent dexa"]
    # The session's creation was its own request, with no client trace: a trace of its own.
    (create,) = [s for s in spans if s["name"] == "POST /sessions"]
    assert create["trace_id"] != CLIENT_TRACE and create["parent_span_id"] == ""
