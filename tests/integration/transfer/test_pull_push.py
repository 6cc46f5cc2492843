"""Continue locally, and back: a session run on one `dexa serve` (A) is pulled to this machine with the export token
the web UI shows, continued one turn by the local CLI, and pushed to another `dexa serve` (B), where it continues on
the web. Real processes with separate homes, real git, bubblewrap on A, the loopback Messages API for the model.

Each hop must keep the workspace byte for byte (every file's bytes and mode, modified, untracked and deleted files
included; ignored files stay behind) and the conversation whole.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "outputs"))

from serve_rig import Served

from dexa.testing.messages_api import FakeMessagesServer
from dexa.testing.messages_api import serve as serve_model

DEXA = [sys.executable, "-m", "dexa.cli"]


def tree(root: Path) -> dict[str, tuple[str, bytes, int]]:
    """Every path under root but .git: (kind, bytes or link target, permission bits)."""
    out: dict[str, tuple[str, bytes, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            rel = os.path.relpath(full, root)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.fsencode(os.readlink(full)), 0)
            else:
                out[rel] = ("file", Path(full).read_bytes(), stat.S_IMODE(st.st_mode))
    return out


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


class World:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.ws_a, self.ws_b, self.here = tmp / "ws-a", tmp / "ws-b", tmp / "laptop"
        for d in (self.ws_a, self.ws_b, self.here, tmp / "user-home"):
            d.mkdir()
        self.local_dir = self.here / "pulled"
        self.model: FakeMessagesServer | None = None
        self.servers: list[Served] = []

    def env(self, home: str) -> dict[str, str]:
        assert self.model is not None
        return {
            **os.environ,
            "DEXA_HOME": str(self.tmp / home),
            "HOME": str(self.tmp / "user-home"),
            "ANTHROPIC_BASE_URL": self.model.url,
            "ANTHROPIC_API_KEY": "sk-test-loopback",
        }

    def serve(self, name: str, cwd: Path) -> Served:
        (self.tmp / name).mkdir(exist_ok=True)
        server = Served(self.tmp / name, cwd, self.env(name), self.tmp / f"{name}.log")
        self.servers.append(server)
        return server

    def dexa(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*DEXA, *args], env=self.env("local-home"), cwd=cwd, capture_output=True, text=True, timeout=180
        )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    for s in w.servers:
        s.stop()
    if w.model is not None:
        w.model.close()


def _repo(ws: Path) -> None:
    git(ws, "init", "-q", "-b", "main")
    git(ws, "config", "user.email", "dev@example.com")
    git(ws, "config", "user.name", "Dev")
    (ws / "app.py").write_text("print('v1')\n")
    (ws / "gone.txt").write_text("deleted before the move\n")
    (ws / "tool.sh").write_text("#!/bin/sh\necho tool\n")
    (ws / "tool.sh").chmod(0o755)
    (ws / ".gitignore").write_text("*.log\n")
    (ws / "docs").mkdir()
    (ws / "docs" / "readme.md").write_text("# readme\n")
    git(ws, "add", "-A")
    git(ws, "commit", "-q", "-m", "initial")
    git(ws, "checkout", "-q", "-b", "dexa/session-work")


def test_pull_continue_locally_and_push_to_another_server(world: World) -> None:
    ws_a, local = world.ws_a, world.local_dir
    _repo(ws_a)
    bash = "printf 'made by bash\\n' > bash.out && chmod 640 bash.out"
    turns = [
        {
            "text": "Editing on A.",
            "tool_uses": [
                {"name": "Write", "input": {"file_path": str(ws_a / "app.py"), "content": "print('v2 on A')\n"}},
                {"name": "Write", "input": {"file_path": str(ws_a / "notes" / "todo.md"), "content": "- move\n"}},
            ],
        },
        {"text": "Now a command.", "tool_uses": [{"name": "Bash", "input": {"command": bash}}]},
        {"text": "Done on A."},
        {
            "text": "Editing here.",
            "tool_uses": [{"name": "Write", "input": {"file_path": str(local / "local.txt"), "content": "laptop\n"}}],
        },
        {"text": "Done locally."},
        {"text": "Done on the local server."},
        {"text": "Done on B."},
    ]
    script = world.tmp / "script.json"
    script.write_text(json.dumps({"turns": turns}))
    world.model = serve_model(script)

    # ---- server A: a turn with edits and an "always" approval, plus changes made beside the agent
    a = world.serve("home-a", ws_a)
    sid = a.call("POST", "/sessions", json={"prompt": "work on A", "permission_mode": "acceptEdits"})["id"]
    a.wait(sid, lambda s: s["status"] == "waiting", "the Bash call asks")
    [approval] = a.call("GET", f"/sessions/{sid}/approvals", params={"status": "pending"})["data"]
    assert approval["tool_name"] == "Bash"
    a.call("POST", f"/sessions/{sid}/approve", json={"approval_id": approval["id"], "decision": "always"})
    done = a.idle(sid)
    assert done["result"] == "Done on A." and done["turns_completed"] == 1, done
    (ws_a / "gone.txt").unlink()
    (ws_a / "blob.bin").write_bytes(bytes(range(256)) * 40)
    (ws_a / "blob.bin").chmod(0o600)
    (ws_a / "tool.sh").chmod(0o700)
    (ws_a / "link-to-app").symlink_to("app.py")
    (ws_a / "debug.log").write_text("ignored: stays on A\n")
    assert (ws_a / "bash.out").read_text() == "made by bash\n"

    # ---- the web UI's command, run as printed
    minted = a.call("POST", f"/sessions/{sid}/export-token", json={})
    argv = minted["command"].split()
    assert argv[:2] == ["dexa", "pull"] and argv[2] == sid
    pulled = world.dexa(*argv[1:], "--dir", str(local), cwd=world.here)
    assert pulled.returncode == 0, pulled.stderr
    assert f"Pulled {sid} into {local}" in pulled.stdout
    twice = world.dexa(*argv[1:], "--dir", str(world.here / "again"), cwd=world.here)
    assert twice.returncode == 2 and "already in this Dexa home" in twice.stderr
    forged = world.dexa("pull", sid, "--server", a.url, "--token", "dxe1_forged", cwd=world.here)
    assert forged.returncode == 2 and "unknown export token" in forged.stderr
    assert not (world.here / "again").exists() and not (world.here / sid).exists()

    expected = {k: v for k, v in tree(ws_a).items() if not k.endswith(".log")}
    assert {"app.py", "notes/todo.md", "bash.out", "blob.bin", "link-to-app"} <= expected.keys()
    assert "gone.txt" not in expected
    assert tree(local) == expected
    assert git(local, "rev-parse", "HEAD") == git(ws_a, "rev-parse", "HEAD")
    assert git(local, "branch", "--show-current").strip() == "dexa/session-work"
    assert git(local, "status", "--porcelain") == git(ws_a, "status", "--porcelain").replace("?? debug.log\n", "")

    a_messages = a.call("GET", f"/sessions/{sid}/export")["messages"]
    assert [m["role"] for m in a_messages] == ["user", "assistant", "user", "assistant", "user", "assistant"]

    # ---- one turn locally, with the local engine (the same model script, chosen by history)
    again = world.dexa("run", "--resume", sid, "-p", "continue here", "--output-format", "json", cwd=local)
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout)
    assert result["result"] == "Done locally." and result["session_id"] == sid
    assert (local / "local.txt").read_text() == "laptop\n"
    listed = json.loads(world.dexa("sessions", "--json", cwd=local).stdout)
    assert [(s["id"], s["turns"], s["cwd"]) for s in listed] == [(sid, 2, str(local))]

    # ---- and interactively: `dexa serve` on this home (what `dexa chat --resume` talks to) continues it too
    here_server = world.serve("local-home", local)
    here_server.call("POST", f"/sessions/{sid}/messages", json={"prompt": "on the local server"})
    assert here_server.idle(sid)["result"] == "Done on the local server."
    here_server.stop()

    # ---- push to B, where it continues on the web
    b = world.serve("home-b", world.ws_b)
    token_b = (world.tmp / "home-b" / "token").read_text().strip()
    pushed = world.dexa("push", sid, "--server", b.url, "--token", token_b, cwd=local)
    assert pushed.returncode == 0, pushed.stderr
    new_id = re.search(r" as (ses_\w+) ", pushed.stdout)
    assert new_id, pushed.stdout
    on_b = b.call("GET", f"/sessions/{new_id[1]}")
    assert on_b["turns_completed"] == 3 and on_b["permission_mode"] == "acceptEdits"
    ws_b = Path(on_b["cwd"])
    assert ws_b.is_relative_to((world.tmp / "home-b").resolve())
    assert tree(ws_b) == tree(local)
    assert git(ws_b, "status", "--porcelain") == git(local, "status", "--porcelain")
    b_bundle = b.call("GET", f"/sessions/{new_id[1]}/export")
    assert _texts(b_bundle["messages"]) == [
        *_texts(a_messages),
        "continue here",
        "Editing here.",
        "Done locally.",
        "on the local server",
        "Done on the local server.",
    ]
    # The "always" answer given on A still holds on B (the Bash rule travelled as a session allow rule).
    assert b_bundle["permissions"]["mode"] == "acceptEdits"
    allowed = b_bundle["session"]["config"]["allowed_tools"]
    assert allowed and all(r.startswith("Bash") for r in allowed)

    b.call("POST", f"/sessions/{new_id[1]}/messages", json={"prompt": "and on the web"})
    assert b.idle(new_id[1])["result"] == "Done on B."


def _texts(messages: list[dict[str, Any]]) -> list[str]:
    return [
        "".join(b.get("text", "") for b in m["content"] if b.get("type") == "text")
        for m in messages
        if any(b.get("type") == "text" for b in m["content"])
    ]
