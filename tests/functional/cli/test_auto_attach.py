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
