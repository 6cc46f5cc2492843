"""Git's network half for a session: clone into the workspace and push from it, always through the git proxy.

Two shapes:

- `HostGitTransport` (local sandboxes, whose workspace is a host directory and whose bwrap has no network): the
  control plane clones straight into the workspace directory. To push it never runs git inside the agent's repo,
  whose `.git/config` the agent controls (`core.fsmonitor`, hooks, `http.proxy`... would run or leak on the
  host); it fetches the repo's HEAD over git's own protocol into a host-side staging repository and pushes from
  there.
- `WorkspaceGitTransport` (remote sandboxes such as Modal, whose network reaches the proxy): runs git inside the
  workspace, with the credential in that one command's environment.

Either way the credential is the short-lived session token, passed as `GIT_CONFIG_*` environment entries: it is
never in argv, never in `.git/config`, never in the workspace's own environment.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shlex
from collections.abc import Mapping
from pathlib import Path

from dexa.adapters.git import run_git
from dexa.core.ports import Workspace

from .ports import GitResult


def auth_env(proxy_url: str, token: str) -> dict[str, str]:
    """Environment that makes git send the session token to the proxy, and only to the proxy."""
    basic = base64.b64encode(f"dexa:{token}".encode()).decode("ascii")
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"http.{proxy_url.rstrip('/')}/.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
        "GIT_TERMINAL_PROMPT": "0",
    }


def _result(code: int, out: bytes, err: bytes) -> GitResult:
    return GitResult(exit_code=code, stdout=out.decode(errors="replace"), stderr=err.decode(errors="replace"))


def _unsafe_destination(path: str) -> str | None:
    """Why cloning to `path` on the host could write outside the workspace (a symlink the agent planted), or None."""
    if os.path.lexists(path):
        return f"fatal: destination {path} already exists"
    parent = os.path.dirname(os.path.abspath(path))
    existing = parent
    while not os.path.lexists(existing):
        existing = os.path.dirname(existing)
    if os.path.realpath(existing) != existing:
        return f"fatal: {existing} is or passes through a symbolic link; refusing to clone there"
    return None


class HostGitTransport:
    def __init__(self, staging_dir: Path, *, timeout_s: float = 600.0) -> None:
        self.staging_dir = staging_dir
        self.timeout_s = timeout_s

    async def clone(self, *, url: str, path: str, base: str | None, auth_env: Mapping[str, str]) -> GitResult:
        refusal = _unsafe_destination(path)
        if refusal:
            return GitResult(exit_code=128, stdout="", stderr=refusal)
        args = ["clone", "-q", "--origin", "origin"]
        if base:
            args += ["--branch", base]
        return _result(*await run_git([*args, url, path], env=auth_env, timeout_s=self.timeout_s))

    def _staging(self, path: str) -> Path:
        return self.staging_dir / (hashlib.sha256(path.encode()).hexdigest()[:16] + ".git")

    async def push(self, *, path: str, url: str, branch: str, auth_env: Mapping[str, str]) -> GitResult:
        staging = self._staging(path)
        if not (staging / "HEAD").exists():
            staging.parent.mkdir(parents=True, exist_ok=True)
            code, out, err = await run_git(["init", "-q", "--bare", str(staging)])
            if code:
                return _result(code, out, err)
        ref = f"refs/heads/{branch}"
        # `file://` forces the pack protocol (no hardlinks into a directory the agent controls).
        code, out, err = await run_git(
            ["fetch", "-q", "--no-tags", f"file://{path}", f"+HEAD:{ref}"], cwd=str(staging), timeout_s=self.timeout_s
        )
        if code:
            return _result(code, out, err)
        return _result(
            *await run_git(
                ["push", "--porcelain", url, f"{ref}:{ref}"], cwd=str(staging), env=auth_env, timeout_s=self.timeout_s
            )
        )


class WorkspaceGitTransport:
    def __init__(self, workspace: Workspace, *, timeout_s: float = 600.0) -> None:
        self.workspace = workspace
        self.timeout_s = timeout_s

    async def _git(self, command: str, cwd: str, env: Mapping[str, str]) -> GitResult:
        result = await self.workspace.exec(command, cwd=cwd, timeout_s=self.timeout_s, env=env)
        return GitResult(exit_code=result.exit_code, stdout=result.stdout, stderr=result.stderr)

    async def clone(self, *, url: str, path: str, base: str | None, auth_env: Mapping[str, str]) -> GitResult:
        branch = f" --branch {shlex.quote(base)}" if base else ""
        parent = str(Path(path).parent)
        return await self._git(
            f"git clone -q --origin origin{branch} {shlex.quote(url)} {shlex.quote(path)}", parent, auth_env
        )

    async def push(self, *, path: str, url: str, branch: str, auth_env: Mapping[str, str]) -> GitResult:
        ref = shlex.quote(f"HEAD:refs/heads/{branch}")
        return await self._git(f"git push --porcelain {shlex.quote(url)} {ref}", path, auth_env)
