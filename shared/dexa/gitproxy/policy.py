"""What a session may push: only its own branches, never a deletion, never a rewrite of history.

Ref rules are checked from the commands alone. History is checked with real git: the proxy keeps a bare mirror
of the upstream repository, indexes the pushed packfile into a throwaway object directory that borrows the
mirror's objects (the same quarantine trick `git receive-pack` uses), and asks `git merge-base --is-ancestor`
whether every ref's current tip is an ancestor of its new tip.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from dexa.adapters.git import run_git
from dexa.code.naming import branch_prefix

from .pktline import ZERO_OID, RefUpdate

logger = logging.getLogger(__name__)

_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def ref_refusals(updates: Sequence[RefUpdate], *, session_id: str) -> dict[str, str]:
    """Refusals by ref for everything decidable without history: other refs, deletions."""
    prefix = "refs/heads/" + branch_prefix(session_id)
    refusals: dict[str, str] = {}
    for update in updates:
        if not update.ref.startswith(prefix) or len(update.ref) == len(prefix):
            refusals[update.ref] = f"this session may only push to its own branches ({prefix}*)"
        elif update.is_delete:
            refusals[update.ref] = "deleting a branch through the Dexa git proxy is not allowed"
    return refusals


class AncestryChecker:
    """Fast-forward checks against a mirror of the upstream repository, kept under `cache_dir`."""

    def __init__(self, cache_dir: Path, *, timeout_s: float = 120.0) -> None:
        self.cache_dir = cache_dir
        self.timeout_s = timeout_s
        self._locks: dict[str, asyncio.Lock] = {}

    def _mirror(self, key: str) -> Path:
        return self.cache_dir / (_SAFE.sub("_", key) + ".git")

    async def refusals(
        self, *, key: str, upstream_url: str, auth_header: str, updates: Sequence[RefUpdate], pack: bytes
    ) -> dict[str, str]:
        """Refusals for updates that would not fast-forward the upstream branch (force pushes).

        `auth_header` is the upstream `Authorization` header; it travels in the environment, never in argv or a
        file, so it cannot show up in `ps` or in the mirror's config.
        """
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            mirror = self._mirror(key)
            if not (mirror / "HEAD").exists():
                mirror.parent.mkdir(parents=True, exist_ok=True)
                code, _, err = await run_git(["init", "-q", "--bare", str(mirror)])
                if code:
                    return {u.ref: f"proxy could not prepare a mirror: {err.decode()[:200]}" for u in updates}
            env = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader", "GIT_CONFIG_VALUE_0": auth_header}
            code, _, err = await run_git(
                ["fetch", "-q", "--no-tags", "--prune", upstream_url, "+refs/heads/*:refs/heads/*"],
                cwd=str(mirror),
                env=env,
                timeout_s=self.timeout_s,
            )
            if code:
                logger.warning("mirror fetch for %s failed: %s", key, err.decode(errors="replace")[:300])
                return {u.ref: "proxy could not read the upstream branch to check for a force push" for u in updates}
            return await self._check(mirror, updates, pack)

    async def _check(self, mirror: Path, updates: Sequence[RefUpdate], pack: bytes) -> dict[str, str]:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        quarantine = Path(tempfile.mkdtemp(prefix="quarantine-", dir=self.cache_dir))
        try:
            (quarantine / "pack").mkdir()
            env = {"GIT_OBJECT_DIRECTORY": str(quarantine), "GIT_ALTERNATE_OBJECT_DIRECTORIES": str(mirror / "objects")}
            if pack:
                code, _, err = await run_git(
                    ["index-pack", "--stdin", "--fix-thin"],
                    cwd=str(mirror),
                    env=env,
                    stdin=pack,
                    timeout_s=self.timeout_s,
                )
                if code:
                    reason = "the pushed packfile could not be read: " + err.decode(errors="replace").strip()[:160]
                    return {u.ref: reason for u in updates}
            refusals: dict[str, str] = {}
            for update in updates:
                reason = await self._update_refusal(mirror, env, update)
                if reason:
                    refusals[update.ref] = reason
            return refusals
        finally:
            shutil.rmtree(quarantine, ignore_errors=True)

    async def _update_refusal(self, mirror: Path, env: dict[str, str], update: RefUpdate) -> str | None:
        code, out, _ = await run_git(["rev-parse", "--verify", "-q", update.ref], cwd=str(mirror), env=env)
        current = out.decode().strip() if code == 0 else None
        bases = {b for b in (current, None if update.old == ZERO_OID else update.old) if b}
        for base in bases:
            code, _, _ = await run_git(["merge-base", "--is-ancestor", base, update.new], cwd=str(mirror), env=env)
            if code == 1:
                return f"non-fast-forward update (force push) of {update.ref} is not allowed"
            if code != 0:
                return f"cannot verify that {update.ref} fast-forwards from {base[:12]}"
        return None
