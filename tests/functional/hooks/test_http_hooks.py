"""`http` hooks against a real local HTTP server: same JSON in, same JSON out (reference §3.4)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from dexa.config.hooks import HooksConfig, parse_hooks
from dexa.hooks.protocol import HookResult
from dexa.hooks.runner import SettingsHookRunner

RESPONSES: dict[str, tuple[int, str]] = {
    "/deny": (
        200,
        json.dumps(
            {
                "hookSpecificOutput": {
                    "hookEventName": "PreToolUse",
                    "permissionDecision": "deny",
                    "permissionDecisionReason": "policy server says no",
                }
            }
        ),
    ),
    "/empty": (200, ""),
    "/error": (500, json.dumps({"decision": "block"})),
    "/text": (200, "hello"),
}


class _Handler(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length))
        self.received.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
        status, text = RESPONSES.get(self.path, (404, ""))
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.received = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _runner(
    tmp_path: Path, url: str, reports: list[HookResult], allowed: tuple[str, ...] | None = None, **handler: Any
) -> SettingsHookRunner:
    raw = {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "http", "url": url, "timeout": 5, **handler}]}]}
    groups, problems = parse_hooks(raw, source="settings.json", scope="managed")
    assert problems == []

    async def report(result: HookResult) -> None:
        reports.append(result)

    return SettingsHookRunner(
        HooksConfig(tuple(groups)),
        project_dir=str(tmp_path),
        session_id="ses_h",
        host_env={"POLICY_TOKEN": "tok", "OTHER": "x"},
        on_result=report,
        allowed_http_urls=allowed,
    )


CALL = {"tool_name": "Bash", "tool_input": {"command": "curl evil.example"}, "tool_use_id": "toolu_9"}


def test_http_hook_posts_the_hook_json_and_its_decision_applies(tmp_path: Path, server: str) -> None:
    reports: list[HookResult] = []
    r = _runner(
        tmp_path,
        f"{server}/deny",
        reports,
        headers={"Authorization": "Bearer ${POLICY_TOKEN} $OTHER"},
        allowedEnvVars=["POLICY_TOKEN"],
    )
    outcome = asyncio.run(r.run("PreToolUse", CALL))
    assert (outcome.permission_decision, outcome.reason) == ("deny", "policy server says no")
    (request,) = _Handler.received
    assert request["body"]["hook_event_name"] == "PreToolUse"
    assert request["body"]["tool_input"] == {"command": "curl evil.example"}
    assert request["body"]["session_id"] == "ses_h"
    assert request["auth"] == "Bearer tok $OTHER", "only allowedEnvVars are interpolated"
    assert reports[0].error == ""


@pytest.mark.parametrize(
    ("path", "error"),
    [("/empty", ""), ("/error", "HTTP 500"), ("/text", "not a JSON object"), ("/missing", "HTTP 404")],
    ids=["docs-2xx-empty-is-success", "docs-non-2xx-is-non-blocking", "docs-2xx-non-json-is-error", "not-found"],
)
def test_http_hook_failures_never_block(tmp_path: Path, server: str, path: str, error: str) -> None:
    reports: list[HookResult] = []
    outcome = asyncio.run(_runner(tmp_path, f"{server}{path}", reports).run("PreToolUse", CALL))
    assert not outcome.blocked and outcome.permission_decision is None
    assert error in reports[0].error if error else reports[0].error == ""


def test_connection_failure_is_a_non_blocking_error(tmp_path: Path) -> None:
    reports: list[HookResult] = []
    outcome = asyncio.run(_runner(tmp_path, "http://127.0.0.1:9/hook", reports).run("PreToolUse", CALL))
    assert not outcome.blocked and "failed" in reports[0].error


def test_allowed_http_hook_urls_gate_the_hook(tmp_path: Path, server: str) -> None:
    reports: list[HookResult] = []
    r = _runner(tmp_path, f"{server}/deny", reports, allowed=("https://policy.example.com/*",))
    outcome = asyncio.run(r.run("PreToolUse", CALL))
    assert outcome.permission_decision is None and _Handler.received == []
    assert "allowedHttpHookUrls" in reports[0].error
