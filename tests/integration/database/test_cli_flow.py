"""Where a user enters: `dexa integrations add postgres`, a `dexa run` whose (scripted) agent reads and stages a
change, then a reviewer approves it through `dexa serve`'s API; the real database changes once, and the
connection string appears nowhere the user, the model or the event log can see."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from db_kit import PASSWORD, Postgres, pg_database, pg_rows

DEXA = [sys.executable, "-m", "dexa.cli"]


def _dexa(env: dict[str, str], cwd: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DEXA, *args], env=env, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=180)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[dict[str, str], Path]]:
    home = tmp_path / "home"
    ws = tmp_path / "ws"
    ws.mkdir()
    yield {**os.environ, "DEXA_HOME": str(home)}, ws


def _serve(env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen[str], httpx.Client]:
    proc = subprocess.Popen(
        [*DEXA, "serve", "--port", "0"], env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert "listening on" in line, f"dexa serve did not start: {line!r}"
    url = line.split("listening on ")[1].split()[0]
    token = (Path(env["DEXA_HOME"]) / "token").read_text().strip()
    return proc, httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


def test_connect_run_stage_approve_through_the_cli_and_api(
    postgres: Postgres, served: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    env, ws = served
    url = pg_database(postgres.url())
    # '-' reads the connection string from stdin, so the password is never in the process list.
    added = _dexa(env, ws, "integrations", "add", "postgres", "--connection-string", "-", stdin=url + "\n")
    assert added.returncode == 0, added.stderr
    assert "status connected" in added.stdout and PASSWORD not in added.stdout

    update = "UPDATE customers SET plan = 'pro' WHERE id = 2"
    script: dict[str, Any] = {
        "turns": [
            {"tool_uses": [{"name": "LoadSourceTools", "input": {"sources": ["database"]}}]},
            {"tool_uses": [{"name": "mcp__database__query", "input": {"sql": "SELECT id, plan FROM customers"}}]},
            {"tool_uses": [{"name": "mcp__database__execute_sql", "input": {"sql": update}}]},
            {"text": "Staged the upgrade of Bo Chen for review."},
        ]
    }
    (tmp_path / "script.json").write_text(json.dumps(script))
    run = _dexa(
        env,
        ws,
        "run",
        "-p",
        "Upgrade Bo Chen to pro",
        "--model",
        f"scripted:{tmp_path / 'script.json'}",
        "--allowedTools",
        "mcp__database",
        "--output-format",
        "stream-json",
        "--verbose",
    )
    assert run.returncode == 0, run.stderr[-3000:]
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    results = [b for m in lines if m["type"] == "user" for b in m["message"]["content"]]
    read = json.loads(results[1]["content"])
    assert read["rows"] == [[1, "pro"], [2, "free"], [3, "free"]] and not results[1]["is_error"]
    assert "Staged as out_" in results[2]["content"] and not results[2]["is_error"]
    assert lines[-1]["subtype"] == "success"
    session_id = lines[-1]["session_id"]
    assert pg_rows(url, "SELECT plan FROM customers WHERE id = 2") == [("free",)]

    proc, api = _serve(env, ws)
    try:
        pending = api.get("/outputs", params={"status": "pending"}).json()["data"]
        assert len(pending) == 1 and pending[0]["kind"] == "sql_change"
        output = pending[0]
        assert "Dry run (rolled back): 1 row(s) would change" in output["summary"]
        path = f"/sessions/{session_id}/pending-outputs/{output['id']}/approve"
        approved = api.post(path, json={})
        assert approved.status_code == 200, approved.text
        assert approved.json()["status"] == "executed", approved.text
        assert pg_rows(url, "SELECT plan FROM customers WHERE id = 2") == [("pro",)]
        again = api.post(path, json={})
        assert again.status_code == 409, again.text
        events = api.get(f"/sessions/{session_id}/events", params={"mode": "poll"})
        assert "output.executed" in events.text and "output.staged" in events.text
        seen = run.stdout + run.stderr + events.text + json.dumps(pending) + approved.text
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert PASSWORD not in seen and url not in seen
    home = Path(env["DEXA_HOME"])
    for stored in home.rglob("*"):
        if stored.is_file():
            assert PASSWORD.encode() not in stored.read_bytes(), stored
