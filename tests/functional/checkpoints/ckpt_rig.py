"""A scripted session whose Bash tool really runs (in bubblewrap when it works here), with checkpoints wired in."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dexa.adapters.local_sandbox import LocalSandbox, probe_bwrap
from dexa.adapters.sqlite import FileBlobStore, SqliteStore
from dexa.checkpoints import CheckpointService
from dexa.core.driver import InProcessDriver
from dexa.core.engine import TurnEngine
from dexa.core.environment import SessionEnv
from dexa.core.ports import Workspace
from dexa.core.session import Session
from dexa.core.tools import ToolRegistry
from dexa.testing.fakes import DirWorkspace, RulePolicy, StaticEnvs
from dexa.testing.scripted import ScriptedModel
from dexa.tools.files import Write
from dexa.tools.shell import Bash


@dataclass
class Rig:
    tmp: Path
    root: Path
    store: SqliteStore
    blobs: FileBlobStore
    workspace: Workspace
    engine: TurnEngine
    model: ScriptedModel | None = None
    env: SessionEnv | None = None
    service_kw: dict[str, Any] = field(default_factory=dict)
    service: CheckpointService = field(init=False)

    def run(self, coro: Any) -> Any:
        return asyncio.run(coro)

    def turn(self, prompt: str = "go") -> Session:
        async def main() -> Session:
            await self.engine.submit("s1", prompt)
            return await InProcessDriver(self.engine).run("s1", wait_for_approvals=False)

        return asyncio.run(main())

    def script(self, steps: list[Any]) -> ScriptedModel:
        assert self.env is not None
        self.model = ScriptedModel(steps)
        self.env.model = self.model
        return self.model

    def new_service(self, **kw: Any) -> CheckpointService:
        """A second service over the same database and blobs: what a restarted process sees."""
        service = CheckpointService(
            self.store, self.blobs, self._workspace_for, emit=self.engine.emit, **{**self.service_kw, **kw}
        )
        assert self.env is not None
        self.env.checkpointer = service
        self.service = service
        return service

    async def _workspace_for(self, session_id: str) -> Workspace:
        return self.workspace

    def events(self, type_: str | None = None) -> list[Mapping[str, Any]]:
        evs = asyncio.run(self.store.read_events("s1", limit=100_000))
        return [e.data for e in evs if type_ is None or e.type == type_]


def tree(root: Path) -> dict[str, bytes]:
    """Every file under root except .git and .dexa, as bytes: the byte-for-byte comparison rewind must satisfy."""
    out: dict[str, bytes] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if rel.split("/")[0] in (".git", ".dexa") or not p.is_file() or p.is_symlink():
            continue
        out[rel] = p.read_bytes()
    return out


def make_rig(tmp_path: Path, *, sandbox: bool = True, **service_kw: Any) -> Rig:
    root = tmp_path / "ws"
    root.mkdir()
    store = SqliteStore(tmp_path / "db" / "dexa.db")
    blobs = FileBlobStore(tmp_path / "blobs")
    workspace: Workspace
    if sandbox and probe_bwrap() is None:
        workspace = LocalSandbox(str(root), state_dir=str(tmp_path / "state"))
    else:
        workspace = DirWorkspace(root)
    env = SessionEnv(
        model=ScriptedModel([]),
        tools=ToolRegistry([Bash(), Write()]),
        policy=RulePolicy(),
        workspace=workspace,
        system_prompt="sys",
    )
    engine = TurnEngine(store, StaticEnvs(env))
    rig = Rig(
        tmp=tmp_path,
        root=Path(workspace.root),
        store=store,
        blobs=blobs,
        workspace=workspace,
        engine=engine,
        env=env,
        service_kw=service_kw,
    )
    rig.new_service()
    session = Session(id="s1", org_id="o", user_id="u", cwd=str(rig.root), model="scripted", created_at=time.time())
    asyncio.run(store.create_session(session))
    return rig
