"""Where marketplaces and plugins come from: source specs, org policy over them, and fetching (git / copy)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dexa.core.errors import ConfigError

GIT_TIMEOUT_S = 300
_GITHUB = re.compile(r"^(?P<repo>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)(?:@(?P<ref>[^\s]+))?$")
_GIT_URL = ("https://", "http://", "ssh://", "git@", "file://", "git://")


def parse_marketplace_source(text: str, *, cwd: str | None = None) -> dict[str, Any]:
    """`claude plugin marketplace add` argument -> source spec (reference §8.3, marketplace sources)."""
    raw = text.strip()
    url, _, ref = raw.partition("#")
    local = Path(cwd or os.getcwd(), os.path.expanduser(raw)).resolve()
    if raw.endswith(".json") and raw.startswith(("https://", "http://")):
        return {"source": "url", "url": raw}
    if raw.startswith(_GIT_URL) or url.endswith(".git"):
        spec: dict[str, Any] = {"source": "git", "url": url}
        if ref:
            spec["ref"] = ref
        return spec
    if local.is_file() and local.suffix == ".json":
        return {"source": "file", "path": str(local)}
    if local.is_dir():
        return {"source": "directory", "path": str(local)}
    m = _GITHUB.match(raw)
    if m and not raw.startswith((".", "/", "~")):
        spec = {"source": "github", "repo": m.group("repo")}
        if m.group("ref"):
            spec["ref"] = m.group("ref")
        return spec
    raise ConfigError(
        f"cannot use {text!r} as a marketplace: expected a directory, a marketplace.json file, a git URL "
        "(or path ending in .git), or owner/repo"
    )


def describe_source(spec: Mapping[str, Any]) -> str:
    kind = spec.get("source")
    detail = spec.get("repo") or spec.get("url") or spec.get("path") or spec.get("package") or ""
    return f"{kind}:{detail}"


def _norm(spec: Mapping[str, Any]) -> tuple[str, str]:
    kind = str(spec.get("source", ""))
    if kind in ("directory", "file"):
        return kind, str(Path(str(spec.get("path", ""))).expanduser().resolve())
    if kind == "github":
        return kind, str(spec.get("repo", "")).lower()
    return kind, str(spec.get("url", "")).rstrip("/")


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketplacePolicy:
    """Org policy: `strictKnownMarketplaces` (allowlist, None = anything) and `blockedMarketplaces`."""

    allowed: tuple[Mapping[str, Any], ...] | None = None
    blocked: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)

    @staticmethod
    def from_settings(managed: Mapping[str, Any] | None) -> MarketplacePolicy:
        managed = managed or {}
        strict = managed.get("strictKnownMarketplaces")
        blocked = managed.get("blockedMarketplaces") or []
        return MarketplacePolicy(
            allowed=tuple(strict) if isinstance(strict, list) else None,
            blocked=tuple(blocked) if isinstance(blocked, list) else (),
        )

    def check(self, spec: Mapping[str, Any]) -> None:
        """Raises ConfigError when org policy does not allow this marketplace source."""
        key = _norm(spec)
        if any(_norm(b) == key for b in self.blocked if isinstance(b, Mapping)):
            raise ConfigError(
                f"marketplace {describe_source(spec)} is blocked by organization policy (blockedMarketplaces)"
            )
        if self.allowed is not None and not any(_norm(a) == key for a in self.allowed if isinstance(a, Mapping)):
            raise ConfigError(
                f"marketplace {describe_source(spec)} is not on the organization's approved list "
                "(strictKnownMarketplaces)"
            )


def git(args: Sequence[str], *, cwd: str | None = None) -> str:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=GIT_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"git {args[0]} failed: {exc}") from exc
    if done.returncode != 0:
        raise ConfigError(f"git {' '.join(args[:1])} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip()


def clone(url: str, dest: Path, *, ref: str | None = None, sha: str | None = None) -> str:
    """A real `git clone` (local paths included); returns the checked-out commit."""
    args = ["clone", "--quiet"]
    if ref and not sha:
        args += ["--branch", ref]
    git([*args, url, str(dest)])
    if sha:
        git(["checkout", "--quiet", sha], cwd=str(dest))
    return git(["rev-parse", "HEAD"], cwd=str(dest))


def copy_tree(src: Path, dest: Path) -> None:
    shutil.copytree(src, dest, symlinks=True, ignore=shutil.ignore_patterns(".git"))


def github_url(repo: str) -> str:
    return f"https://github.com/{repo}.git"


def fetch_plugin(
    spec: str | Mapping[str, Any], dest: Path, *, marketplace_root: Path | None, relative: Path | None
) -> str | None:
    """Materialise a plugin at `dest`. Returns the git commit when the source was a repository."""
    if isinstance(spec, str):
        if relative is None or marketplace_root is None or not relative.is_dir():
            raise ConfigError(f"plugin source {spec!r} is not a directory inside the marketplace")
        copy_tree(relative, dest)
        return None
    kind = spec.get("source")
    ref, sha = spec.get("ref"), spec.get("sha")
    if kind in ("github", "url"):
        url = github_url(str(spec["repo"])) if kind == "github" else str(spec["url"])
        commit = clone(url, dest, ref=ref, sha=sha)
        # The cache holds an immutable copy; the commit is recorded and updates fetch again.
        shutil.rmtree(dest / ".git", ignore_errors=True)
        return commit
    if kind == "git-subdir":
        scratch = dest.with_name(dest.name + ".clone")
        commit = clone(str(spec["url"]), scratch, ref=ref, sha=sha)
        sub = scratch / str(spec.get("path", ""))
        if not sub.is_dir():
            shutil.rmtree(scratch, ignore_errors=True)
            raise ConfigError(f"git-subdir path {spec.get('path')!r} not found in {spec['url']}")
        copy_tree(sub, dest)
        shutil.rmtree(scratch, ignore_errors=True)
        return commit
    raise ConfigError(
        f"plugin source type {kind!r} is not supported by Dexa (use a relative path, github, url or git-subdir source)"
    )
