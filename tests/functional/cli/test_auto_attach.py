"""Auto-attach (dexa.cli.attach): with a `dexa serve` running for the same DEXA_HOME and environment, a plain
`dexa -p` runs its session on that server (the client imports no model SDK); `--no-attach`, a different
environment, a working directory the server would refuse, stream-json output, or a flag the thin client does not
send keep the run in-process; the server's record goes when it stops."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from dexa.testing.messages_api import serve
from dexa.testing.script import Script


def _roots(stderr: str) -> set[str]:
    return {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in stderr.splitlines()
        if line.startswith("import time:") and "self [us]" not in line
    }


def _run(args: list[str], env: dict[str, str], ws: Path) -> tuple[dict, set[str]]:
    cmd = [sys.executable, "-X", "importtime", "-m", "dexa.cli", "-p", "hi", "--output-format", "json", *args]
    proc = subprocess.run(cmd, cwd=ws, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    roots = _roots(proc.stderr)
    assert "dexa" in roots, "the import list was not read"
    return json.loads(proc.stdout.strip().splitlines()[-1]), roots


def test_a_headless_run_attaches_to_this_homes_server_unless_told_or_unable(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    home = tmp_path / "home"
    with serve(Script.from_dict({"turns": [{"text": "ok"}]})) as model:
        env = {**os.environ, "DEXA_HOME": str(home), "ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": model.url}
        env.pop("DEXA_TOKEN", None)
        server = subprocess.Popen(
            [sys.executable, "-m", "dexa.cli", "serve", "--port", "0"],
            cwd=ws,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert server.stdout is not None
            line = server.stdout.readline()
            assert "listening on" in line, line
            record = json.loads((home / "serve.json").read_text())
            assert record["pid"] == server.pid and record["url"] in line

            result, roots = _run([], env, ws)
            assert result["subtype"] == "success" and result["result"] == "ok", result
            assert "anthropic" not in roots and "bashlex" not in roots, "ran in-process, not on the server"
            # The thin client (cli/attached.py) speaks HTTP with the standard library: no HTTP client package, no
            # pydantic schemas, no event loop.
            heavy = roots & {"httpx", "httpcore", "h2", "pydantic", "asyncio", "anyio"}
            assert not heavy, f"the attached client imported {heavy}"
            assert len(model.message_requests()) == 1

            result, roots = _run(["--no-attach"], env, ws)
            assert result["result"] == "ok" and "anthropic" in roots
            _, roots = _run([], {**env, "SOME_OTHER_SETTING": "1"}, ws)  # the server would not see it
            assert "anthropic" in roots
            _, roots = _run(["--append-system-prompt", "x", "--add-dir", str(ws)], env, ws)  # not sent to servers
            assert "anthropic" in roots
            result, roots = _run(["--output-format", "stream-json", "--verbose"], env, ws)  # for programs
            assert result["result"] == "ok" and "anthropic" in roots
            elsewhere = tmp_path / "elsewhere"  # outside the directory dexa serve was started in
            elsewhere.mkdir()
            result, roots = _run([], env, elsewhere)
            assert result["result"] == "ok" and "anthropic" in roots
            (ws / "sub").mkdir()
            _, roots = _run([], env, ws / "sub")  # inside it: attached
            assert "anthropic" not in roots
            assert len(model.message_requests()) == 7
        finally:
            server.terminate()
            server.wait(timeout=30)
    deadline = time.monotonic() + 5
    while (home / "serve.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not (home / "serve.json").exists()


def _start_server(ws: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    server = subprocess.Popen(
        [sys.executable, "-m", "dexa.cli", "serve", "--port", "0"],
        cwd=ws,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert server.stdout is not None
    line = server.stdout.readline()
    assert "listening on" in line, line
    return server


def test_an_attached_run_prints_what_the_in_process_run_prints(tmp_path: Path) -> None:
    """A Bash call the headless run may not ask about is denied and reported alike, attached and in-process; with
    --verbose the json output lists the same kinds of messages, the init message first."""
    ws = tmp_path / "ws"
    ws.mkdir()
    home = tmp_path / "home"
    script = {"turns": [{"tool_uses": [{"name": "Bash", "input": {"command": "touch made"}}]}, {"text": "done"}]}
    with serve(Script.from_dict(script)) as model:
        env = {**os.environ, "DEXA_HOME": str(home), "ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": model.url}
        env.pop("DEXA_TOKEN", None)
        server = _start_server(ws, env)
        try:
            attached, roots = _run(["--verbose"], env, ws)
            assert "anthropic" not in roots, "ran in-process, not on the server"
            here, roots = _run(["--verbose", "--no-attach"], env, ws)
            assert "anthropic" in roots
        finally:
            server.terminate()
            server.wait(timeout=30)
    assert not (ws / "made").exists()
    [attached_result, here_result] = [out[-1] for out in (attached, here)]
    # Usage and cost differ by the fake's prompt cache (the second session reads what the first one wrote).
    for key in ("type", "subtype", "is_error", "result", "num_turns"):
        assert attached_result[key] == here_result[key], key
    assert attached_result["usage"]["output_tokens"] == here_result["usage"]["output_tokens"] > 0
    assert [d["tool_name"] for d in attached_result["permission_denials"]] == ["Bash"]
    assert attached_result["permission_denials"] == here_result["permission_denials"]
    assert attached_result["session_id"] != here_result["session_id"]
    kinds = [(m["type"], m.get("subtype")) for m in attached[:-1]]
    assert kinds[0] == ("system", "init") and kinds == [(m["type"], m.get("subtype")) for m in here[:-1]], kinds
