"""Where an org's files live on this server: its workspace root and its configuration scope.

Every API path is confined to the caller's org (ARCHITECTURE.md, "Trust boundary"):
- working directories resolve inside `<workspaces>/<org_id>` (created on first use, mode 0700), or inside a root
  the operator registered for that org. Locally `dexa serve` registers the directory it was started in (or
  `--workspace DIR`) for the local org only, so the machine owner keeps starting sessions where they ran the server;
  every other org, and every org in hosted mode, gets only its own directory under the workspace root;
- memory and settings use a per-org home (`<orgs>/<org_id>`, whose `.claude/` is that org's "user" layer), so one
  org's CLAUDE.md or settings.json never reaches another org's sessions. The local org keeps the owner's real home.

Paths are resolved with symlinks followed (realpath) before the containment check, so a link inside a workspace
cannot point a session at another org's files.

Remote workspaces (DEXA_SANDBOX=modal): a session's files live in its own sandbox on its own volume, named by the
session id, not on this server's disk. Its cwd is then a path in that namespace (`remote_root`, /workspace),
checked lexically (normalised, inside the root, no `..` out) and never looked up on the API's disk; org isolation
holds because no session's namespace holds another session's files.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from dexa.core.errors import ConfigError, PermissionDeniedError

from .bootstrap import LOCAL_ORG

# Org ids become directory names: nothing that could climb out of the root.
_ORG_ID: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


@dataclass(frozen=True, slots=True, kw_only=True)
class OrgPaths:
    """The filesystem side of tenancy. `extra_roots` maps an org id to more directories it may use; the first one
    is that org's default working directory."""

    workspaces: Path
    scopes: Path
    local_home: Path | None = None
    extra_roots: Mapping[str, Sequence[Path]] = field(default_factory=dict)
    # Set when sessions run in remote workspaces: cwd is a path inside this root of the session's own namespace.
    remote_root: str | None = None

    def _check_org(self, org_id: str) -> str:
        if not _ORG_ID.match(org_id):
            raise ConfigError(f"org id {org_id[:80]!r} cannot name a directory")
        return org_id

    def workspace_root(self, org_id: str) -> Path:
        """`<workspaces>/<org_id>`, created (0700) when missing."""
        root = self.workspaces / self._check_org(org_id)
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        return root.resolve()

    def roots(self, org_id: str) -> tuple[Path, ...]:
        """Every directory the org's sessions may live in, resolved; the first is its default working directory."""
        extra = tuple(Path(p).resolve() for p in self.extra_roots.get(org_id, ()))
        return (*extra, self.workspace_root(org_id))

    def home(self, org_id: str) -> Path:
        """The home whose `.claude/` is the org's user layer (CLAUDE.md, settings.json, agents, skills)."""
        if org_id == LOCAL_ORG and self.local_home is not None:
            return self.local_home
        home = self.scopes / self._check_org(org_id)
        (home / ".claude").mkdir(parents=True, exist_ok=True, mode=0o700)
        return home

    def is_scoped(self, org_id: str) -> bool:
        """True when the org's memory and settings live in a per-org scope (every org but a local owner's)."""
        return not (org_id == LOCAL_ORG and self.local_home is not None)

    def contains(self, org_id: str, path: str | os.PathLike[str]) -> bool:
        """Whether an (already resolved) path lies inside one of the org's roots."""
        p = Path(path)
        return any(_inside(p, r) for r in self.roots(org_id))

    def resolve(self, org_id: str, raw: str | None, *, field_name: str = "cwd") -> Path:
        """An existing directory inside the org's roots. A relative path is relative to the org's default
        directory; an absolute one must resolve (symlinks followed) inside a root.

        Raises:
            ConfigError: NUL byte, unusable path, or not an existing directory (400, names the field).
            PermissionDeniedError: the path resolves outside the org's workspace roots (403, names the field).
        """
        if raw is not None and "\x00" in raw:
            raise ConfigError(f"{field_name}: NUL bytes are not allowed in a path")
        if self.remote_root is not None:
            return self._resolve_remote(org_id, raw, field_name)
        roots = self.roots(org_id)
        try:
            path = (roots[0] / raw if raw else roots[0]).resolve()  # an absolute raw replaces the base
            is_dir = path.is_dir()
        except (OSError, RuntimeError, ValueError) as exc:
            raise ConfigError(
                f"{field_name}: {str(raw)[:200]!r} is not a usable path ({exc.__class__.__name__})"
            ) from exc
        if not any(_inside(path, r) for r in roots):
            raise PermissionDeniedError(
                f"{field_name}: {str(raw)[:200]!r} is outside this org's workspace root {roots[-1]}"
                + (f" (or {', '.join(map(str, roots[:-1]))})" if len(roots) > 1 else "")
                + "; give a path relative to it",
                code="forbidden",
            )
        if not is_dir:
            raise ConfigError(f"{field_name}: working directory does not exist: {str(path)[:300]}")
        return path

    def _resolve_remote(self, org_id: str, raw: str | None, field_name: str) -> Path:
        """A path in the remote workspace namespace: lexically inside `remote_root`; it need not exist here (the
        workspace creates it)."""
        self._check_org(org_id)
        root = posixpath.normpath(self.remote_root or "/")
        text = (raw or "").strip()
        path = posixpath.normpath(posixpath.join(root, text)) if text else root
        if len(path) > 4096:
            raise ConfigError(f"{field_name}: path too long")
        if not (path == root or path.startswith(root.rstrip("/") + "/")):
            raise PermissionDeniedError(
                f"{field_name}: {str(raw)[:200]!r} is outside the session workspace {root}; give a path relative to it",
                code="forbidden",
            )
        return Path(path)
