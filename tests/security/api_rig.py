"""The real `dexa serve` app (build_app over build_runtime: real SQLite, real settings files) with two hostile orgs.

Org a and org b each get an admin and a member key; the local org is bootstrapped the way `dexa serve` does it.
The host side (a fake user home with ~/.claude and a secret, the Dexa home) is snapshotted so a test can assert
that nothing outside the caller's workspace changed.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from dexa.api.ratelimit import RateLimit
from dexa.auth.bootstrap import bootstrap_local
from dexa.auth.service import AuthService
from dexa.server_app import build_app
from dexa.settings import DexaSettings
from dexa.wiring import Runtime, build_runtime


@dataclass
class Rig:
    app: FastAPI
    runtime: Runtime
    tmp: Path
    user_home: Path
    serve_dir: Path
    tokens: dict[str, str] = field(default_factory=dict)

    def h(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def client(self) -> TestClient:
        return TestClient(self.app, base_url="http://127.0.0.1:4096", client=("127.0.0.1", 50000))

    @property
    def workspaces(self) -> Path:
        return self.runtime.settings.workspaces_dir

    def org_ws(self, org: str) -> Path:
        return self.workspaces / f"org_{org}"


def tree_digest(*roots: Path) -> dict[str, str]:
    """Every file, link and directory under the roots with its content hash / target / mode, to compare later."""
    out: dict[str, str] = {}
    for root in roots:
        if not root.exists():
            out[str(root)] = "absent"
            continue
        for dirpath, dirs, files in os.walk(root):
            for name in dirs + files:
                p = Path(dirpath) / name
                if p.is_symlink():
                    out[str(p)] = "link:" + os.readlink(p)
                elif p.is_file():
                    out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest() + oct(p.stat().st_mode)
                else:
                    out[str(p)] = "dir" + oct(p.stat().st_mode)
    return out


def make_rig(tmp: Path, **settings: Any) -> Rig:
    home = tmp / "dexa-home"
    user_home = tmp / "user-home"
    (user_home / ".claude").mkdir(parents=True)
    (user_home / ".claude" / "CLAUDE.md").write_text("the machine owner's own memory\n")
    (user_home / "secret.txt").write_text("owner secret: s3cr3t-host-file\n")
    serve_dir = tmp / "serve-dir"
    serve_dir.mkdir()
    runtime = build_runtime(DexaSettings(home=home, **settings), env={})
    runtime.envs.home = user_home
    app = build_app(runtime, local=True, default_cwd=str(serve_dir), rate_limit=RateLimit(rate=10_000, burst=10_000))
    rig = Rig(app=app, runtime=runtime, tmp=tmp, user_home=user_home, serve_dir=serve_dir)

    async def setup() -> None:
        auth = AuthService(runtime.store)
        rig.tokens["local"] = await bootstrap_local(auth, home)
        for tag in ("a", "b"):
            org = await auth.create_org(f"org {tag}", org_id=f"org_{tag}")
            for role in ("admin", "member"):
                user = await auth.create_user(org.id, f"{tag}-{role}", role, user_id=f"usr_{tag}_{role}")
                _, rig.tokens[f"{tag}_{role}"] = await auth.create_key(org.id, user.id, f"{tag}-{role}")

    asyncio.run(setup())
    # Org a's private work, which org b tries to reach.
    ws_a = rig.workspaces / "org_a" / "repo"
    ws_a.mkdir(parents=True)
    (ws_a / "CLAUDE.md").write_text("org a confidential plan\n")
    (ws_a / "data.txt").write_text("org a data\n")
    return rig
