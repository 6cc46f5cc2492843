"""`dexa serve` processes on one home with a git repository, the PyPI `mcp-server-git` configured the Claude Code way
(user scope, ~/.claude.json), and the loopback Messages API answering from a script."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from dexa.testing.messages_api import FakeMessagesServer
from dexa.testing.messages_api import serve as serve_model


class Served:
    def __init__(self, home: Path, cwd: Path, env: dict[str, str], log: Path) -> None:
        self.home, self.log_path = home, log
        self.log = log.open("a")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dexa.cli", "serve", "--port", "0"],
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert "listening on" in line, f"dexa serve did not start: {line!r}\n{log.read_text()[-3000:]}"
        self.url = line.split("listening on ")[1].split()[0]
        token = (home / "token").read_text().strip()
        self.headers = {"Authorization": f"Bearer {token}"}
        self.http = httpx.Client(base_url=self.url, headers=self.headers, timeout=60)

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return self.http.request(method, path, **kw)

    def call(self, method: str, path: str, **kw: Any) -> Any:
        res = self.request(method, path, **kw)
        assert res.status_code < 300, f"{method} {path}: {res.status_code} {res.text[:2000]}"
        return res.json() if res.content else None

    def wait(self, session_id: str, cond: Any, what: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        s: dict[str, Any] = {}
        while time.monotonic() < deadline:
            s = self.call("GET", f"/sessions/{session_id}")
            if cond(s):
                return s
            time.sleep(0.1)
        raise AssertionError(f"{what}: not reached after {timeout}s: {s}\n{self.log_path.read_text()[-3000:]}")

    def idle(self, session_id: str) -> dict[str, Any]:
        return self.wait(session_id, lambda s: s["turn"] is None and s["status"] != "running", "session idle")

    def events(self, session_id: str) -> list[dict[str, Any]]:
        res = self.http.get(f"/sessions/{session_id}/events", params={"mode": "poll", "after": 0})
        return [json.loads(ln[5:]) for ln in res.text.splitlines() if ln.startswith("data:")]

    def stop(self) -> None:
        self.http.close()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Rig:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.home, self.user_home, self.ws = tmp / "dexa-home", tmp / "home", tmp / "ws"
        for d in (self.home, self.user_home, self.ws):
            d.mkdir()
        self.repo = self.ws
        git = ["git", "-C", str(self.repo)]
        subprocess.run([*git, "init", "-q"], check=True)
        subprocess.run([*git, "config", "user.email", "dev@example.com"], check=True)
        subprocess.run([*git, "config", "user.name", "Dev"], check=True)
        (self.repo / "notes.txt").write_text("hello\n")
        subprocess.run([*git, "add", "notes.txt"], check=True)
        servers = {"git": {"command": sys.executable, "args": ["-m", "mcp_server_git", "--repository", str(self.repo)]}}
        (self.user_home / ".claude.json").write_text(json.dumps({"mcpServers": servers}))
        self.model: FakeMessagesServer | None = None
        self.servers: list[Served] = []

    def use_model(self, turns: list[dict[str, Any]]) -> FakeMessagesServer:
        script = self.tmp / "model" / "script.json"
        script.parent.mkdir(exist_ok=True)
        script.write_text(json.dumps({"turns": turns}))
        self.model = serve_model(script)
        return self.model

    def serve(self) -> Served:
        assert self.model is not None
        env = {
            **os.environ,
            "DEXA_HOME": str(self.home),
            "HOME": str(self.user_home),
            "ANTHROPIC_BASE_URL": self.model.url,
            "ANTHROPIC_API_KEY": "sk-test-loopback",
        }
        server = Served(self.home, self.ws, env, self.tmp / "serve.log")
        self.servers.append(server)
        return server

    def commits(self) -> list[str]:
        out = subprocess.run(
            ["git", "-C", str(self.repo), "log", "--format=%s"], capture_output=True, text=True, check=False
        )
        return out.stdout.split("\n")[:-1] if out.returncode == 0 else []

    def close(self) -> None:
        for s in self.servers:
            s.stop()
        if self.model is not None:
            self.model.close()
