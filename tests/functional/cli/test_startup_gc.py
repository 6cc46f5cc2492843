"""The cyclic collector on a headless `dexa run -p` (cli/startup_gc.py): paused while the process starts, so start-up's
~50,000 objects are not walked again and again (about 130 collections before the first model request otherwise),
then frozen and back on before the first request; every other command keeps it on.

The `dexa` process is the module run as `__main__` (runpy, as `python -m dexa.cli` does), with a probe that records
the collector's state when the process first connects to the model server, and at exit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dexa.testing.messages_api import serve
from dexa.testing.script import Script

PROBE = """
import atexit, gc, json, os, runpy, socket, sys
out, port = sys.argv[1], int(sys.argv[2])
sys.argv = ["dexa", *sys.argv[3:]]
seen = {"collections": 0}
gc.callbacks.append(lambda phase, info: phase == "start" and seen.__setitem__("collections", seen["collections"] + 1))
connect = socket.socket.connect

def probe_connect(self, addr):
    if "first_request" not in seen and isinstance(addr, tuple) and addr[1] == port:
        seen["first_request"] = [gc.isenabled(), gc.get_freeze_count(), seen["collections"]]
    return connect(self, addr)

def at_exit():
    seen["exit"] = [gc.isenabled()]
    with open(out, "w") as f:
        json.dump(seen, f)

socket.socket.connect = probe_connect
atexit.register(at_exit)
runpy.run_module("dexa.cli", run_name="__main__", alter_sys=True)
"""


def _run(tmp_path: Path, *args: str, port: int = 9) -> tuple[subprocess.CompletedProcess[str], dict]:
    out = tmp_path / "probe.json"
    env = {**os.environ, "ANTHROPIC_API_KEY": "k", "DEXA_HOME": str(tmp_path / "home")}
    if port != 9:
        env["ANTHROPIC_BASE_URL"] = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-c", PROBE, str(out), str(port), *args]
    proc = subprocess.run(cmd, cwd=tmp_path / "ws", env=env, capture_output=True, text=True, timeout=300)
    return proc, json.loads(out.read_text())


def test_a_headless_run_starts_without_collections_and_freezes_what_start_up_built(tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    script = {"turns": [{"tool_uses": [{"name": "Bash", "input": {"command": "echo 1 >> log.txt"}}]}, {"text": "ok"}]}
    with serve(Script.from_dict(script)) as server:
        proc, seen = _run(
            tmp_path, "run", "-p", "go", "--output-format", "json", "--allowedTools", "Bash", port=server.port
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["result"] == "ok"
    assert (tmp_path / "ws" / "log.txt").read_text() == "1\n"  # the turn's tools ran with the collector back on
    enabled, frozen, collections = seen["first_request"]
    assert enabled, "the collector is still paused when the first model request goes out"
    assert frozen > 20_000, f"only {frozen} objects frozen: start-up's objects are walked by every full collection"
    # Measured ~120 young, ~11 middle and 1 full collection before the first request without the pause; with it, a
    # few dozen cheap ones after the freeze (the model SDK's import).
    assert collections < 80, f"{collections} collections before the first model request"
    assert seen["exit"] == [True]


def test_every_other_command_keeps_the_collector_on(tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    proc, seen = _run(tmp_path, "sessions")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert seen["exit"] == [True] and "first_request" not in seen
    # A thin client of a server (here an absent one) resumes before it connects.
    proc, seen = _run(tmp_path, "run", "-p", "hi", "--server", "http://127.0.0.1:9", "--no-attach")
    assert proc.returncode != 0 and "no Dexa server at" in proc.stderr, proc.stderr[-2000:]
    assert seen["exit"] == [True]
