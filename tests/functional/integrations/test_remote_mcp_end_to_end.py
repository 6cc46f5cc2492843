"""Remote MCP connectors entered where users enter: the API the web UI calls (start + /oauth/callback on the
`dexa serve` app), and the `dexa` command as separate processes (`integrations connect` completed by a running
`dexa serve`, then `dexa run -p` using the vendor's tools).

The security half: the grant's access and refresh tokens appear nowhere a workspace or a client can see: not in
the sandboxed Bash's environment or home, not in the session's events or the run's output, not in any file under
DEXA_HOME except the encrypted vault.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2
import pytest
from fastapi.testclient import TestClient
from remote_oauth_servers import Vendor, start_vendor

from dexa.adapters.local_sandbox.bwrap import probe_bwrap
from dexa.auth.bootstrap import LOCAL_ORG, bootstrap_local, token_path
from dexa.auth.service import AuthService
from dexa.server_app import build_app
from dexa.settings import DexaSettings
from dexa.wiring import build_runtime


@pytest.fixture
def vendor() -> Iterator[Vendor]:
    v = start_vendor()
    yield v
    v.stop()


def browser_consent(authorize_url: str) -> str:
    """The user's browser at the vendor: open the authorize URL, press Allow; returns where it is sent back."""
    with httpx2.Client() as browser:
        to_consent = browser.get(authorize_url)
        assert to_consent.status_code == 302, to_consent.text
        page = browser.get(to_consent.headers["location"])
        match = re.search(r'name="txn" value="([^"]+)"', page.text)
        assert match is not None, page.text
        answer = browser.post(
            to_consent.headers["location"].split("?")[0], data={"txn": match.group(1), "approve": "yes"}
        )
    assert answer.status_code == 302
    return answer.headers["location"]


def test_the_web_ui_connects_a_vendor_server_through_the_api(tmp_path: Path, vendor: Vendor) -> None:
    runtime = build_runtime(DexaSettings(home=tmp_path / "home"), env={})
    app = build_app(runtime, local=True, default_cwd=str(tmp_path))
    token = asyncio.run(bootstrap_local(AuthService(runtime.store), tmp_path / "home"))
    asyncio.run(runtime.integrations.registry.set_allowlist(LOCAL_ORG, ["http://127.0.0.1:*"]))
    auth = {"Authorization": f"Bearer {token}"}
    with TestClient(app, base_url="http://127.0.0.1:4096") as api:
        created = api.post(
            "/integrations", json={"kind": "custom_mcp", "name": "crm", "config": {"url": vendor.url()}}, headers=auth
        )
        assert created.status_code == 201, created.text
        integration_id = created.json()["id"]
        started = api.post(f"/integrations/{integration_id}/oauth/start", headers=auth)
        assert started.status_code == 200, started.text
        authorize = started.json()["authorize_url"]
        assert "code_challenge_method=S256" in authorize and "resource=" in authorize
        back = browser_consent(authorize)
        assert back.startswith("http://127.0.0.1:4096/oauth/callback?")
        # The browser lands on dexa serve's callback route (its cookie authenticates it; a bearer does here).
        landed = api.get(
            urlsplit(back).path + "?" + urlsplit(back).query,
            headers={**auth, "Accept": "text/html"},
            follow_redirects=False,
        )
        assert (
            landed.status_code == 303 and landed.headers["location"] == f"/ui/integrations?connected={integration_id}"
        )
        status = api.get(f"/integrations/{integration_id}/status", headers=auth).json()
        assert status["state"] == "connected", status
        listed = api.get("/integrations", headers=auth).text
    assert not any(t in listed or t in json.dumps(status) for t in vendor.auth.issued)


# ---------------------------------------------------------------- the command line, with dexa serve


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Machine:
    """A user's machine: a home with Claude Code settings, a Dexa home, a repo; `dexa` runs as its own process."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.home = tmp / "home"
        self.dexa_home = tmp / "dexa-home"
        self.repo = tmp / "repo"
        for d in (self.home / ".claude", self.dexa_home, self.repo):
            d.mkdir(parents=True)
        subprocess.run(["git", "init", "-q", str(self.repo)], check=True)
        self.port = _free_port()
        self.serve_url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "HOME": str(self.home),
            "DEXA_HOME": str(self.dexa_home),
            "DEXA_PUBLIC_URL": self.serve_url,
            "ANTHROPIC_API_KEY": "sk-ant-not-used-scripted-model",
        }

    def dexa(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dexa.cli", *args],
            cwd=self.repo,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "dexa.cli", *args],
            cwd=self.repo,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def _wait_for_line(proc: subprocess.Popen[str], pattern: str, timeout: float = 60) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        if re.search(pattern, line):
            return line.strip()
    raise AssertionError(
        f"no line matching {pattern!r}; got {''.join(seen)!r}; stderr {proc.stderr and proc.stderr.read()!r}"
    )


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.mark.skipif(probe_bwrap() is not None, reason=f"bubblewrap unusable: {probe_bwrap()}")
def test_cli_connect_completes_on_dexa_serve_and_no_token_reaches_the_workspace(tmp_path: Path, vendor: Vendor) -> None:
    machine = Machine(tmp_path)
    assert machine.dexa("integrations", "allow", "http://127.0.0.1:*").returncode == 0
    added = machine.dexa("integrations", "add", "custom_mcp", "--name", "crm", "--url", vendor.url())
    assert added.returncode == 0, added.stderr
    integration_id = re.search(r"added (int_[0-9a-f]+)", added.stdout).group(1)  # type: ignore[union-attr]

    serve = machine.popen("serve", "--port", str(machine.port))
    connect: subprocess.Popen[str] | None = None
    try:
        _wait_for_line(serve, r"listening on")
        local_token = token_path(machine.dexa_home).read_text().strip()
        connect = machine.popen("integrations", "connect", integration_id, "--timeout", "60")
        authorize = _wait_for_line(connect, r"^https?://")
        back = browser_consent(authorize)
        assert back.startswith(f"{machine.serve_url}/oauth/callback?")
        # The browser (logged in to dexa serve) follows the redirect. The callback exchanges the code and probes the
        # vendor's server; on a loaded machine that outlasts httpx's 5-second default.
        with httpx2.Client(timeout=60) as browser:
            landed = browser.get(back, headers={"Authorization": f"Bearer {local_token}"})
        assert landed.status_code == 200, landed.text
        out, err = connect.communicate(timeout=60)
        assert connect.returncode == 0, out + err
        assert f"connected {integration_id}" in out
    finally:
        if connect is not None:
            _stop(connect)
        _stop(serve)

    # A session that uses the vendor's tools and tries to find the grant from inside the sandbox.
    (machine.home / ".claude" / "settings.json").write_text(
        json.dumps({"permissions": {"allow": ["Bash(*)", "mcp__crm__find_contact", "mcp__crm__update_deal"]}})
    )
    snoop = (
        "env; cat /proc/self/environ | tr '\\0' '\\n'; ls -la ~ 2>&1; "
        f"cat {machine.dexa_home}/dexa.db 2>&1 | head -c 200000; grep -r at_ ~ 2>/dev/null | head"
    )
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps(
            {
                "turns": [
                    {"tool_uses": [{"name": "LoadSourceTools", "input": {"sources": ["crm"]}}]},
                    {
                        "tool_uses": [
                            {"name": "mcp__crm__find_contact", "input": {"email": "ana@acme.example"}},
                            {"name": "mcp__crm__update_deal", "input": {"deal_id": "d_1", "stage": "won"}},
                            {"name": "Bash", "input": {"command": snoop}},
                        ]
                    },
                    {"text": "done"},
                ]
            }
        )
    )
    run = machine.dexa(
        "run", "-p", "look up Ana", "--model", f"scripted:{script}", "--output-format", "stream-json", "--verbose"
    )
    assert run.returncode == 0, run.stderr
    results = _tool_results(run.stdout)
    assert "Ana Silva" in results["mcp__crm__find_contact"], results
    assert results["mcp__crm__update_deal"].startswith("Staged as"), results
    assert "PATH=" in results["Bash"], results["Bash"]  # the snoop really ran
    assert [c["tool"] for c in vendor.calls()] == ["find_contact"]  # the write waits for a reviewer

    tokens = vendor.auth.issued
    assert tokens
    for token in tokens:
        assert token not in run.stdout and token not in run.stderr, "a token reached the run's output"
    for path in machine.dexa_home.rglob("*"):
        if path.is_file() and path.name not in ("vault.bin", "vault.key"):
            data = path.read_bytes()
            assert not any(t.encode() in data for t in tokens), f"a token is stored in clear in {path}"
    for path in [*machine.repo.rglob("*"), *machine.home.rglob("*")]:
        if path.is_file():
            data = path.read_bytes()
            assert not any(t.encode() in data for t in tokens), f"a token is in the workspace or home: {path}"


def _tool_results(stream: str) -> dict[str, str]:
    """tool name -> result text, from `dexa run --output-format stream-json` (Claude Code's format)."""
    names: dict[str, str] = {}
    results: dict[str, str] = {}
    for line in stream.splitlines():
        try:
            msg: dict[str, Any] = json.loads(line)
        except ValueError:
            continue
        for block in (msg.get("message") or {}).get("content") or []:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "tool_use":
                names[block["id"]] = block["name"]
            elif block.get("type") == "tool_result":
                content = block.get("content")
                text = content if isinstance(content, str) else "".join(c.get("text", "") for c in content or [])
                use_id = str(block["tool_use_id"])
                results[names.get(use_id, use_id)] = text
    return results
