"""What a session may push: only its own branches, never a deletion, never a rewrite of history.

Ref rules are checked from the commands alone. History is checked with dulwich, not the git binary, because the
proxy runs on the API Lambda and AWS's Python runtime has no git. The proxy keeps a bare mirror of the upstream
repository (fetched over smart HTTP), indexes the pushed packfile into a throwaway object store that borrows the
mirror's objects through `objects/info/alternates` (the quarantine `git receive-pack` uses), and walks history to
check that every ref's current tip is an ancestor of its new tip.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from dexa.code.naming import branch_prefix

from .pktline import ZERO_OID, RefUpdate

if TYPE_CHECKING:
    from dulwich.repo import Repo

logger = logging.getLogger(__name__)

_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_HEADS = b"refs/heads/"


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


class UpstreamFetchError(Exception):
    """The mirror could not be brought up to date from the git host."""


def fetch_heads(mirror: Path, upstream_url: str, *, auth_header: str, timeout_s: float) -> dict[bytes, bytes]:
    """Bring the bare mirror's branches up to date with the upstream's (`+refs/heads/*:refs/heads/*`, pruned) over
    smart HTTP, creating the mirror on first use. Returns the upstream's branches. Blocking: run it in a thread.

    `auth_header` ("Authorization: Basic ...") is sent as a request header and never written to the mirror.

    Raises:
        UpstreamFetchError: the git host could not be reached or refused the fetch.
    """
    from dulwich.client import HTTPUnauthorized, Urllib3HttpGitClient
    from dulwich.config import ConfigDict
    from dulwich.errors import GitProtocolError, HangupException, NotGitRepository
    from dulwich.repo import Repo

    repo = Repo(str(mirror)) if (mirror / "HEAD").exists() else Repo.init_bare(str(mirror), mkdir=True)
    with repo:
        # http.extraHeader in an in-memory config: dulwich's pool manager sends it with every request (its
        # `extra_headers` argument is stored but never sent).
        config = ConfigDict()
        config.set((b"http",), b"extraHeader", auth_header.encode())
        parts = urlsplit(upstream_url)
        client = Urllib3HttpGitClient(f"{parts.scheme}://{parts.netloc}/", config=config, timeout=timeout_s)

        store: Any = repo.object_store

        def wants(refs: Mapping[bytes, bytes | None], depth: int | None = None) -> list[bytes]:
            return sorted({sha for ref, sha in refs.items() if ref.startswith(_HEADS) and sha and sha not in store})

        try:
            result = client.fetch(parts.path, repo, determine_wants=wants, ref_prefix=[_HEADS])  # type: ignore[arg-type]
        except (GitProtocolError, HangupException, HTTPUnauthorized, NotGitRepository, OSError) as exc:
            raise UpstreamFetchError(f"{type(exc).__name__}: {exc}") from exc
        heads: dict[bytes, bytes] = {ref: sha for ref, sha in result.refs.items() if ref.startswith(_HEADS) and sha}
        refs: Any = repo.refs
        for ref in [r for r in refs.keys() if r.startswith(_HEADS) and r not in heads]:
            del refs[ref]
        for ref, sha in heads.items():
            refs[ref] = sha
        return heads


def _fast_forward_refusal(repo: Repo, update: RefUpdate, current: bytes | None) -> str | None:
    from dulwich.graph import can_fast_forward

    bases = {b for b in (current, None if update.old == ZERO_OID else update.old.encode()) if b}
    new = update.new.encode()
    for base in bases:
        try:
            ok = can_fast_forward(repo, base, new)  # type: ignore[arg-type]
        except (KeyError, AssertionError):  # an object neither pushed nor upstream, or not a commit
            return f"cannot verify that {update.ref} fast-forwards from {base.decode()[:12]}"
        if not ok:
            return f"non-fast-forward update (force push) of {update.ref} is not allowed"
    return None


def pack_refusals(
    mirror: Path, scratch: Path, updates: Sequence[RefUpdate], pack: bytes, heads: Mapping[bytes, bytes]
) -> dict[str, str]:
    """Refusals for updates that do not fast-forward `heads` (the upstream's branches) or the old tip the client
    named, judged on the mirror's objects plus the pushed pack, which is indexed into a quarantine under
    `scratch` and deleted afterwards. Blocking: run it in a thread."""
    from dulwich.repo import Repo

    scratch.mkdir(parents=True, exist_ok=True)
    quarantine = Path(tempfile.mkdtemp(prefix="quarantine-", dir=scratch))
    try:
        with Repo.init_bare(str(quarantine)) as repo:
            repo.object_store.add_alternate_path(str(mirror / "objects"))
            if pack:
                try:
                    # Thin: deltas against objects the client knows upstream has, resolved from the mirror.
                    repo.object_store.add_thin_pack(io.BytesIO(pack).read, None)
                except Exception as exc:  # any damage (zlib, checksum, delta, object format) refuses it
                    reason = f"the pushed packfile could not be read: {type(exc).__name__}: {exc}"[:200]
                    return {u.ref: reason for u in updates}
            refusals: dict[str, str] = {}
            for update in updates:
                reason = _fast_forward_refusal(repo, update, heads.get(update.ref.encode()))
                if reason:
                    refusals[update.ref] = reason
            return refusals
    finally:
        shutil.rmtree(quarantine, ignore_errors=True)


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

        `auth_header` is the upstream `Authorization` header ("Authorization: ..."); it goes out as a request
        header only, never into argv, a file or the mirror's config.
        """
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            mirror = self._mirror(key)
            mirror.parent.mkdir(parents=True, exist_ok=True)
            try:
                heads = await asyncio.wait_for(
                    asyncio.to_thread(
                        fetch_heads, mirror, upstream_url, auth_header=auth_header, timeout_s=self.timeout_s
                    ),
                    self.timeout_s,
                )
            except (UpstreamFetchError, TimeoutError) as exc:
                logger.warning("mirror fetch for %s failed: %s", key, str(exc)[:300])
                return {u.ref: "proxy could not read the upstream branch to check for a force push" for u in updates}
            return await asyncio.to_thread(pack_refusals, mirror, self.cache_dir, updates, pack, heads)
