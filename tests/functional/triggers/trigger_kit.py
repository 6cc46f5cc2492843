"""What the reviewer-notification and inbound-trigger tests run against: the real `dexa serve` process, a real SMTP
server (aiosmtpd, STARTTLS with its own CA, AUTH) receiving Dexa's mail, and a local Slack Web API fake.

The model is the loopback Messages API; its script is stateless (a request with N assistant messages gets turn N),
so every session on one server does the same thing: load the calendar tools, stage an invite (allowed by the user
settings, so it is staged without asking), run a Bash command (which asks), then answer.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from email import message_from_bytes
from email.message import Message
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from dexa.testing.messages_api import FakeMessagesServer
from dexa.testing.messages_api import serve as serve_model

STAGE = "mcp__calendar__create_event"
INVITE = {
    "summary": "Acme follow-up",
    "start": "2020-01-08T15:00:00Z",
    "end": "2020-01-08T15:30:00Z",
    "attendees": ["dana@acme.example"],
}
TURNS = [
    {"text": "Loading your calendar.", "tool_uses": [{"name": "LoadSourceTools", "input": {"sources": ["calendar"]}}]},
    {"text": "Proposing the follow-up.", "tool_uses": [{"name": STAGE, "input": INVITE}]},
    {"text": "Noting it.", "tool_uses": [{"name": "Bash", "input": {"command": "echo ran >> approved.txt"}}]},
    {"text": "The invite waits for review."},
]
SIGNING_SECRET = "slack-signing-secret-for-tests"
SMTP_USER, SMTP_PASSWORD = "dexa-mailer", "smtp-password-for-tests"
LOCAL_USER = "usr_local"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(cond: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


# ------------------------------------------------------------------ Slack


class FakeSlack:
    """Slack's Web API (chat.postMessage) and interaction response_urls, recording what Dexa sends."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.responses: list[dict[str, Any]] = []
        self.tokens: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                if self.path.startswith("/api/chat.postMessage"):
                    fake.tokens.append(self.headers.get("Authorization", ""))
                    fake.posts.append(body)
                    answer = {"ok": True, "ts": f"{time.time():.6f}", "channel": body.get("channel")}
                else:
                    fake.responses.append(body)
                    answer = {"ok": True}
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def buttons(self, post: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """action_id -> button of a posted message."""
        return {e["action_id"]: e for b in post.get("blocks", []) if b["type"] == "actions" for e in b["elements"]}

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def slack_headers(body: bytes, *, secret: str = SIGNING_SECRET, now: float | None = None) -> dict[str, str]:
    ts = str(int(time.time() if now is None else now))
    sig = "v0=" + hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig}


def click(button: dict[str, Any], *, user: str, team: str, response_url: str) -> tuple[bytes, dict[str, str]]:
    """The form POST Slack sends when `user` clicks `button` (block_actions), signed."""
    payload = {
        "type": "block_actions",
        "team": {"id": team},
        "user": {"id": user, "team_id": team},
        "response_url": response_url,
        "actions": [{"action_id": button["action_id"], "value": button["value"], "type": "button"}],
    }
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    return body, {**slack_headers(body), "Content-Type": "application/x-www-form-urlencoded"}


# ------------------------------------------------------------------ SMTP


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (and its key): the test SMTP server's identity, and the CA Dexa trusts."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "smtp-cert.pem", tmp / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class Mailbox:
    """An SMTP server that requires STARTTLS and AUTH, and keeps every message it accepts."""

    def __init__(self, tmp: Path, *, tls: bool = True) -> None:
        import ssl

        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        self.messages: list[Message] = []
        self.logins: list[str] = []
        self.cert, key = self_signed(tmp)
        box = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                msg = message_from_bytes(envelope.original_content, policy=default_policy)
                msg["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
                box.messages.append(msg)
                return "250 OK"

        def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
                SMTP_USER.encode(),
                SMTP_PASSWORD.encode(),
            )
            if ok:
                box.logins.append(data.login.decode())
            return AuthResult(success=ok, handled=False)

        context = None
        if tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.cert, key)
        self.port = free_port()
        self._controller = Controller(
            Handler(),
            hostname="127.0.0.1",
            port=self.port,
            tls_context=context,
            require_starttls=tls,
            authenticator=authenticator,
            auth_required=tls,
            auth_require_tls=tls,
        )
        self._controller.start()

    def env(self) -> dict[str, str]:
        return {
            "DEXA_SMTP_HOST": "127.0.0.1",
            "DEXA_SMTP_PORT": str(self.port),
            "DEXA_SMTP_USER": SMTP_USER,
            "DEXA_SMTP_PASSWORD": SMTP_PASSWORD,
            "DEXA_SMTP_CA_FILE": str(self.cert),
            "DEXA_MAIL_FROM": "dexa@dexa.test",
        }

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if address in str(m["X-Envelope-To"])]

    def close(self) -> None:
        self._controller.stop()


def body_text(msg: Message) -> str:
    part = msg.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
    return str(part.get_content()).replace("\r\n", "\n")


def link_tokens(msg: Message) -> dict[str, str]:
    """action word in the mail ("Approve", "Reject") -> the signed token of its link."""
    found = re.findall(r"^(Approve|Reject)[^:]*: \S+\?token=(\S+)$", body_text(msg), flags=re.M)
    return {word: urllib.parse.unquote(token) for word, token in found}


# ------------------------------------------------------------------ dexa serve


class Served:
    """`dexa serve` as a user runs it, with reviewer mail, Slack and the inbound mail listener configured."""

    def __init__(self, tmp: Path, *, env: dict[str, str]) -> None:
        self.tmp = tmp
        self.home, self.user_home, self.ws = tmp / "dexa-home", tmp / "home", tmp / "ws"
        for d in (self.home, self.user_home / ".claude", self.ws):
            d.mkdir(parents=True, exist_ok=True)
        # The staged invite needs no permission prompt; Bash still asks.
        (self.user_home / ".claude" / "settings.json").write_text(json.dumps({"permissions": {"allow": [STAGE]}}))
        script = tmp / "script.json"
        script.write_text(json.dumps({"turns": TURNS}))
        self.model: FakeMessagesServer = serve_model(script)
        self.smtp_in = free_port()
        self.env = {
            **os.environ,
            "DEXA_HOME": str(self.home),
            "HOME": str(self.user_home),
            "ANTHROPIC_BASE_URL": self.model.url,
            "ANTHROPIC_API_KEY": "sk-test-loopback",
            "DEXA_INBOUND_SMTP_PORT": str(self.smtp_in),
            **env,
        }
        self.env.pop("DEXA_BENCH_FAKE_ENV", None)
        done = subprocess.run(
            [sys.executable, "-m", "dexa.cli", "integrations", "add", "demo"],
            env=self.env,
            cwd=self.ws,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr or done.stdout
        self.log = (tmp / "serve.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dexa.cli", "serve", "--port", "0"],
            env=self.env,
            cwd=self.ws,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        assert "listening on" in first, f"dexa serve did not start: {first!r}\n{self.log_tail()}"
        self.url = first.split("listening on ")[1].split()[0]
        self.token = (self.home / "token").read_text().strip()
        self.http = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30)

    def log_tail(self) -> str:
        self.log.flush()
        return (self.tmp / "serve.log").read_text()[-4000:]

    def call(self, method: str, path: str, body: Any = None, *, ok: bool = True) -> Any:
        res = self.http.request(method, path, json=body)
        if ok:
            assert res.status_code < 300, f"{method} {path}: {res.status_code} {res.text[:2000]}\n{self.log_tail()}"
        return res.json() if res.content else None

    def post_raw(self, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        """A POST as an outside sender makes it: no API key."""
        return httpx.post(self.url + path, content=body, headers=headers, timeout=30)

    def session(self, session_id: str) -> dict[str, Any]:
        return self.call("GET", f"/sessions/{session_id}")

    def outputs(self, session_id: str) -> list[dict[str, Any]]:
        return self.call("GET", f"/sessions/{session_id}/pending-outputs")["data"]

    def events(self, session_id: str) -> list[dict[str, Any]]:
        res = self.http.get(f"/sessions/{session_id}/events", params={"mode": "poll"})
        return [json.loads(line[5:]) for line in res.text.splitlines() if line.startswith("data:")]

    def waiting(self, session_id: str, timeout: float = 60) -> dict[str, Any]:
        """Until the turn parks on the Bash approval, with the invite staged."""
        return wait_until(
            lambda: (s := self.session(session_id))["status"] == "waiting" and self.outputs(session_id) and s,
            timeout,
            f"session {session_id} waiting for approval\n{self.log_tail()}",
        )

    def idle(self, session_id: str, timeout: float = 60) -> dict[str, Any]:
        return wait_until(
            lambda: (s := self.session(session_id))["turn"] is None and s["status"] not in ("running", "waiting") and s,
            timeout,
            f"session {session_id} idle\n{self.log_tail()}",
        )

    def stop(self) -> None:
        self.http.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        self.model.close()


# ------------------------------------------------------------------ the whole stack


TEAM, CHANNEL, REVIEWER_EMAIL = "T0ACME", "C0REVIEW", "rev@acme.example"


class Stack:
    """dexa serve with mail and Slack configured; the org's review channels set, U0REV acting as the local admin."""

    def __init__(self, tmp: Path) -> None:
        self.mailbox = Mailbox(tmp)
        self.slack = FakeSlack()
        env = {
            **self.mailbox.env(),
            "DEXA_SLACK_BOT_TOKEN": "xoxb-test-token",
            "DEXA_SLACK_API_URL": self.slack.url + "/api",
            "DEXA_SLACK_SIGNING_SECRET": SIGNING_SECRET,
        }
        self.served = Served(tmp, env=env)
        s = self.served
        s.call("PUT", "/review-channels", {"slack_team": TEAM, "slack_channel": CHANNEL, "emails": [REVIEWER_EMAIL]})
        s.call("PUT", "/slack-users", {"slack_user": "U0REV", "user_id": LOCAL_USER})

    def start(self, name: str) -> str:
        cwd = self.served.ws / name
        cwd.mkdir()
        sid = self.served.call("POST", "/sessions", {"prompt": "Schedule the Acme follow-up.", "cwd": str(cwd)})["id"]
        self.served.waiting(sid)
        return sid

    def notices(self, session_id: str) -> tuple[dict[str, Any], dict[str, Any], Message, Message]:
        """(Slack output message, Slack tool message, output mail, tool mail) of the session."""
        (output,) = self.served.outputs(session_id)

        def slack_for(key: str, value: str) -> list[dict[str, Any]]:
            return [
                p
                for p in self.slack.posts
                if any(json.loads(b["value"]).get(key) == value for b in self.slack.buttons(p).values())
            ]

        def mail(subject: str, text: str) -> list[Message]:
            return [
                m
                for m in self.mailbox.to(REVIEWER_EMAIL)
                if subject in str(m["Subject"]) and text in m.get_body().get_content()  # type: ignore[attr-defined]
            ]

        def found() -> Any:
            got = (
                slack_for("output_id", output["id"]),
                slack_for("session_id", session_id),
                mail("staged", output["id"]),
                mail("needs approval", session_id),
            )
            return all(len(g) == 1 for g in got) and tuple(g[0] for g in got)

        return wait_until(found, 30, f"the notices of {session_id}: {self.slack.posts} {self.mailbox.messages}")

    def click(self, post: dict[str, Any], action: str, user: str) -> dict[str, Any]:
        body, headers = click(
            self.slack.buttons(post)[action], user=user, team=TEAM, response_url=self.slack.url + "/respond/1"
        )
        res = self.served.post_raw("/webhooks/slack", body, headers)
        assert res.status_code == 200, res.text
        return res.json()

    def redeem(self, token: str) -> Any:
        return self.served.http.post("/approval-links/redeem", json={"token": token})

    def executed(self, session_id: str) -> int:
        return sum(1 for e in self.served.events(session_id) if e["type"] == "output.executed")

    def close(self) -> None:
        self.served.stop()
        self.slack.close()
        self.mailbox.close()
