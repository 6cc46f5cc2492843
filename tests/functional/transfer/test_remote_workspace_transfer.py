"""Moving a session whose workspace is remote (Modal): export packs it through the Workspace port, `dexa pull`'s
materializer rebuilds it here byte for byte and mode for mode, and an import writes a document into a fresh remote
workspace. The stand-in sandbox is a host directory reached only through the port under its own namespace
(/workspace/...), with the Modal adapter's tree script doing the listing, reads and writes."""

# The stand-in's port methods touch a small local temp dir: blocking there is what a test fake may do.
# ruff: noqa: ASYNC240

from __future__ import annotations

import asyncio
import os
import posixpath
import stat
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))

from api_harness import Api, make_api

from dexa.adapters.modal.tree import TreeOps
from dexa.client import DexaClient
from dexa.core.errors import ConfigError
from dexa.transfer import remote as remote_mod
from dexa.transfer.bundle import parse
from dexa.transfer.workspace import materialize, pack

ROOT = "/workspace"


class SandboxDir(TreeOps):
    """The Workspace port over a host directory standing in for a sandbox: callers name /workspace/... paths, never
    host ones; exec-backed tree operations run Modal's own script here."""

    is_remote = True

    def __init__(self, host: Path) -> None:
        self.root = ROOT
        self.host = host
        self._control = tempfile.mkdtemp(prefix="dexa-sandbox-control-")
        self.execs = 0

    @property
    def control_dir(self) -> str:
        return self._control

    @property
    def extra_roots(self) -> tuple[str, ...]:
        return ()

    def resolve(self, path: str) -> str:
        norm = posixpath.normpath(path)
        assert norm == ROOT or norm.startswith(ROOT + "/"), f"{path} is outside the sandbox namespace"
        return str(self.host) + norm[len(ROOT) :]

    async def _call(
        self,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
        sink: Any = None,
    ) -> tuple[int, str, str]:
        self.execs += 1
        proc = await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await proc.communicate()
        return proc.returncode or 0, out.decode(), err.decode()

    async def _fs(self, op: str, *args: Any, path: str, **kwargs: Any) -> Any:
        assert op == "write_bytes" and path.startswith(self._control)
        Path(args[1]).write_bytes(args[0])

    async def read_bytes(self, path: str) -> bytes:
        return Path(self.resolve(path)).read_bytes()

    async def write_bytes(self, path: str, data: bytes) -> None:
        Path(self.resolve(path)).write_bytes(data)

    async def exists(self, path: str) -> bool:
        return Path(self.resolve(path)).exists()

    async def is_dir(self, path: str) -> bool:
        return Path(self.resolve(path)).is_dir()

    async def remove(self, path: str) -> None:
        Path(self.resolve(path)).unlink(missing_ok=True)

    async def walk(self, root: str) -> list[str]:
        host = Path(self.resolve(root))
        return [ROOT + "/" + str(p.relative_to(self.host)) for p in host.rglob("*") if p.is_file()]

    async def close(self) -> None:
        return None


def _remote_api(tmp_path: Path, name: str) -> tuple[Api, Path]:
    """A server whose sessions get remote workspaces: remote_root set, the environment's workspace the stand-in."""
    api = make_api(tmp_path / name)
    sandbox = tmp_path / f"{name}-sandbox"
    sandbox.mkdir()
    ctx = api.app.state.dexa
    ctx.paths = replace(ctx.paths, remote_root=ROOT)
    api.runtime.remote_workspaces = True  # type: ignore[attr-defined]
    api.runtime.engine.envs.env.workspace = SandboxDir(sandbox)  # type: ignore[attr-defined]
    return api, sandbox


def _fill(ws: Path) -> None:
    (ws / "src" / "pkg").mkdir(parents=True)
    (ws / "src" / "pkg" / "mod.py").write_text("print('hi')\n")
    (ws / "run.sh").write_text("#!/bin/sh\necho run\n")
    (ws / "run.sh").chmod(0o755)
    (ws / "secret.env").write_text("TOKEN=x\n")
    (ws / "secret.env").chmod(0o600)
    (ws / "blob.bin").write_bytes(bytes(range(256)) * 40)
    (ws / "empty").write_bytes(b"")
    (ws / ".gitignore").write_text("*.log\nbuild/\n")
    (ws / "debug.log").write_text("ignored\n")
    (ws / "build").mkdir()
    (ws / "build" / "out.o").write_bytes(b"\x7fELF")
    (ws / "node_modules" / "dep").mkdir(parents=True)
    (ws / "node_modules" / "dep" / "index.js").write_text("module.exports = 1\n")
    (ws / ".git").mkdir()
    (ws / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (ws / "link").symlink_to("run.sh")


KEPT = {"src/pkg/mod.py", "run.sh", "secret.env", "blob.bin", "empty", ".gitignore"}


def _files(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every regular file under root (.git included): bytes and permission bits."""
    out: dict[str, tuple[bytes, int]] = {}
    for here, _dirs, names in os.walk(root):
        for name in names:
            full = Path(here) / name
            st = full.lstat()
            if stat.S_ISREG(st.st_mode):
                out[str(full.relative_to(root))] = (full.read_bytes(), stat.S_IMODE(st.st_mode))
    return out


def _client(api: Api, token: str) -> DexaClient:
    return DexaClient("http://dexa", token, transport=httpx.ASGITransport(app=api.app))


async def _export_via_token(api: Api, sid: str) -> dict[str, Any]:
    async with _client(api, api.tokens["a_member"]) as c:
        minted = await c.create_export_token(sid)
    async with _client(api, minted.token) as c:
        return (await c.export_session_bundle(sid)).model_dump()


async def _new_session(api: Api) -> str:
    async with _client(api, api.tokens["a_member"]) as c:
        session = await c.create_session(title="remote")
        assert session.cwd == ROOT  # a path in the sandbox namespace, not on this host
        return session.id


def test_pull_of_a_remote_session_materializes_its_workspace_byte_for_byte(tmp_path: Path) -> None:
    api, sandbox = _remote_api(tmp_path, "cloud")
    _fill(sandbox)
    before = _files(sandbox)

    async def main() -> dict[str, Any]:
        sid = await _new_session(api)
        return await _export_via_token(api, sid)

    doc = asyncio.run(main())
    incoming = parse(doc)
    assert incoming.workspace.kind == "tree"
    here = materialize(incoming.workspace, tmp_path / "pulled")
    got = _files(here)
    assert set(got) == KEPT
    assert got == {rel: before[rel] for rel in KEPT}
    assert got["run.sh"][1] == 0o755 and got["secret.env"][1] == 0o600
    # Links do not travel through the port; nothing outside the kept set was read onto this host.
    assert not (here / "link").exists() and not (here / "link").is_symlink()
    workspace: Any = api.runtime.engine.envs.env.workspace  # type: ignore[attr-defined]
    assert workspace.execs <= 3  # one listing, one read batch: not a round trip per file


def test_an_import_into_a_remote_server_writes_the_workspace_through_the_port(tmp_path: Path) -> None:
    source, sandbox = _remote_api(tmp_path, "cloud")
    _fill(sandbox)
    target, fresh = _remote_api(tmp_path, "other")

    async def main() -> str:
        doc = await _export_via_token(source, await _new_session(source))
        async with _client(target, target.tokens["a_member"]) as c:
            imported = await c.import_session_bundle(doc)
            assert imported.cwd == ROOT
            return imported.id

    asyncio.run(main())
    assert _files(fresh) == {rel: _files(sandbox)[rel] for rel in KEPT}


def test_a_git_workspace_pushed_to_a_remote_server_arrives_as_the_same_repository(tmp_path: Path) -> None:
    """`dexa push` of a local git workspace: the bundle is cloned and overlaid on the host, then written through the
    port, `.git` included, so the sandbox holds the same commits and the same uncommitted changes."""
    local = tmp_path / "local"
    local.mkdir()

    def git(*args: str, cwd: Path = local) -> str:
        env = {**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}
        return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout

    git("init", "-q", "-b", "main")
    (local / "a.txt").write_text("one\n")
    (local / "tool.sh").write_text("#!/bin/sh\n")
    (local / "tool.sh").chmod(0o755)
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    (local / "a.txt").write_text("one\ntwo (uncommitted)\n")
    (local / "new.txt").write_text("untracked\n")
    packed = pack(local)
    assert packed.kind == "git"

    target, fresh = _remote_api(tmp_path, "cloud")
    source_api = make_api(tmp_path / "host")

    async def main() -> None:
        async with _client(source_api, source_api.tokens["a_member"]) as c:
            session = await c.create_session(title="local")
            doc = await _export_via_token(source_api, session.id)
        doc["workspace"] = packed.to_dict()
        async with _client(target, target.tokens["a_member"]) as c:
            await c.import_session_bundle(doc)

    asyncio.run(main())
    for rel in ("a.txt", "tool.sh", "new.txt"):
        assert (fresh / rel).read_bytes() == (local / rel).read_bytes()
    assert stat.S_IMODE((fresh / "tool.sh").stat().st_mode) == 0o755
    assert git("log", "--format=%s", cwd=fresh).split() == ["first"]
    assert git("rev-parse", "HEAD", cwd=fresh) == git("rev-parse", "HEAD")
    assert "a.txt" in git("status", "--porcelain", cwd=fresh)


def test_a_remote_workspace_over_the_size_cap_is_refused_naming_the_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api, sandbox = _remote_api(tmp_path, "cloud")
    _fill(sandbox)
    monkeypatch.setattr(remote_mod, "MAX_PACK_BYTES", 4096)

    async def main() -> None:
        sid = await _new_session(api)
        with pytest.raises(ConfigError, match=r"packs to more than .* session move carries"):
            await _export_via_token(api, sid)

    asyncio.run(main())


def test_an_import_into_a_non_empty_remote_workspace_leaves_no_session_behind(tmp_path: Path) -> None:
    source, sandbox = _remote_api(tmp_path, "cloud")
    _fill(sandbox)
    target, occupied = _remote_api(tmp_path, "other")
    (occupied / "already.txt").write_text("here\n")

    async def main() -> None:
        doc = await _export_via_token(source, await _new_session(source))
        async with _client(target, target.tokens["a_member"]) as c:
            known = {s.id for s in (await c.list_sessions()).data}
            with pytest.raises(ConfigError, match="is not empty"):
                await c.import_session_bundle(doc)
            assert {s.id for s in (await c.list_sessions()).data} == known

    asyncio.run(main())
    assert _files(occupied) == {"already.txt": (b"here\n", _files(occupied)["already.txt"][1])}
