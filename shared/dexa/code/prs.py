"""Linked pull requests: one per modified repo, each linking the others and the session.

`open` pushes every modified repo through the proxy, asks the output policy gate whether PRs go out directly
(the default) or are staged for approval, and creates them. Bodies are written twice: once on creation (the set
may not be complete yet) and again once every number is known, so each PR lists all its siblings. The set and
each PR's status live in kv "prs"; every PR and first push goes into the side-effect ledger with its compensation
(close_pr / delete_branch), and `close` is what a rewind or abort offers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from typing import Any

from dexa.core.errors import DexaError, ToolInputError
from dexa.core.ports import KeyValueStore

from .ports import (
    PULL_REQUESTS_UPDATED,
    PlannedPullRequest,
    PrGate,
    PrStager,
    PullRequestProvider,
    SessionEmit,
    SideEffectRecorder,
)
from .repos import RepoSet
from .state import LinkedPR, LinkedPRSet, load_prs, save_prs

logger = logging.getLogger(__name__)

MARKER = "<!-- dexa:linked-prs -->"
OPEN_STATES = ("open", "draft")


def render_body(*, summary: str, repo: str, prs: Collection[LinkedPR], session_url: str) -> str:
    """The PR description: the summary, then every linked PR (this one marked) and the session link."""
    lines = [summary.strip() or "Changes made by Dexa.", "", "---", MARKER]
    if len(prs) > 1:
        lines.append(f"**Linked pull requests** (one change across {len(prs)} repositories):")
        for pr in prs:
            ref = f"[{pr.repo}#{pr.number}]({pr.url})" if pr.number is not None else f"{pr.repo} (`{pr.branch}`)"
            lines.append(f"- {ref}{' (this pull request)' if pr.repo.lower() == repo.lower() else ''}")
    if session_url:
        lines += ["", f"**Dexa session:** {session_url}"]
    return "\n".join(lines) + "\n"


class LinkedPullRequests:
    def __init__(
        self,
        *,
        kv: KeyValueStore,
        provider: PullRequestProvider,
        session_url: Callable[[str], str] = lambda _sid: "",
        record_side_effect: SideEffectRecorder | None = None,
        gate: PrGate | None = None,
        stager: PrStager | None = None,
        emit: SessionEmit | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.kv = kv
        self.provider = provider
        self.session_url = session_url
        self.record_side_effect = record_side_effect
        self.gate = gate
        self.stager = stager
        self.emit = emit
        self.clock = clock

    async def get(self, session_id: str, org_id: str) -> LinkedPRSet | None:
        return await load_prs(self.kv, session_id, org_id)

    async def _publish(self, prs: LinkedPRSet) -> LinkedPRSet:
        prs = replace(prs, updated_at=self.clock())
        await save_prs(self.kv, prs)
        if self.emit is not None:
            await self.emit(prs.session_id, PULL_REQUESTS_UPDATED, prs.to_dict())
        return prs

    # ------------------------------------------------------------ open

    async def open(self, repos: RepoSet, *, title: str, summary: str = "", draft: bool = False) -> LinkedPRSet:
        """Push every modified repo and open (or stage) its PR. Safe to call again: existing PRs are kept and
        get the new commits and an updated sibling list.

        Raises:
            ToolInputError: nothing was modified, or no title.
            ToolError: a push was refused (the proxy's reason is in the message).
        """
        sid, org = repos.session_id, repos.org_id
        if not title.strip():
            raise ToolInputError("a pull request title is required")
        known = await self.get(sid, org)
        modified = await repos.modified()
        if not modified and (known is None or not known.prs):
            raise ToolInputError("no repository in this session has changes to propose")
        by_repo = {p.repo: p for p in known.prs} if known else {}
        for entry in modified:
            entry = await repos.push(entry.repo, message=title)
            current = by_repo.get(entry.repo)
            if current is None or current.status in ("closed", "merged"):
                by_repo[entry.repo] = LinkedPR(repo=entry.repo, branch=entry.branch, base=entry.base)
        prs = LinkedPRSet(
            session_id=sid,
            org_id=org,
            title=known.title if known else title.strip(),
            summary=summary.strip() or (known.summary if known else ""),
            prs=tuple(by_repo.values()),
            output_id=known.output_id if known else None,
            extra={"draft": draft},
        )
        if any(p.status == "staged" for p in prs.prs):
            return prs  # already waiting for approval; the pushes above updated the branches it will use
        plan = [
            PlannedPullRequest(
                repo=p.repo,
                head=p.branch,
                base=p.base,
                title=prs.title,
                body=render_body(summary=prs.summary, repo=p.repo, prs=prs.prs, session_url=self.session_url(sid)),
            )
            for p in prs.prs
            if p.status in ("planned", "failed")
        ]
        decision = await self.gate(org_id=org, session_id=sid, plan=plan) if self.gate and plan else "direct"
        if decision == "stage":
            if self.stager is None:
                raise DexaError("output policy stages pull requests but no stager is configured", code="config_error")
            output_id = await self.stager(org_id=org, session_id=sid, plan=plan)
            staged = tuple(replace(p, status="staged") if p.status in ("planned", "failed") else p for p in prs.prs)
            logger.info("session %s: %d pull requests staged as %s", sid, len(plan), output_id)
            return await self._publish(replace(prs, prs=staged, output_id=output_id))
        return await self._create(prs)

    async def execute_staged(self, session_id: str, org_id: str) -> LinkedPRSet:
        """Create the staged PRs once their output was approved (called by the output executor)."""
        prs = await self.get(session_id, org_id)
        if prs is None or not any(p.status == "staged" for p in prs.prs):
            raise ToolInputError(f"session {session_id} has no staged pull requests")
        return await self._create(prs)

    async def _create(self, prs: LinkedPRSet) -> LinkedPRSet:
        url = self.session_url(prs.session_id)
        draft = bool(prs.extra.get("draft", False))
        created: list[LinkedPR] = []
        for pr in prs.prs:
            if pr.status not in ("planned", "failed", "staged"):
                created.append(pr)
                continue
            body = render_body(summary=prs.summary, repo=pr.repo, prs=prs.prs, session_url=url)
            try:
                forge = await self.provider.create(
                    prs.org_id, pr.repo, head=pr.branch, base=pr.base, title=prs.title, body=body, draft=draft
                )
            except DexaError as exc:
                logger.warning("session %s: PR on %s failed: %s", prs.session_id, pr.repo, exc.message)
                created.append(replace(pr, status="failed", error=exc.message))
                continue
            created.append(
                replace(
                    pr,
                    status="draft" if draft else "open",
                    number=forge.number,
                    url=forge.url,
                    head_sha=forge.head_sha,
                    error="",
                )
            )
            await self._ledger(prs, pr.repo, forge.number, forge.url)
        prs = replace(prs, prs=tuple(created), output_id=prs.output_id)
        live = [p for p in prs.prs if p.number is not None and p.status in OPEN_STATES]
        if len(live) > 1:
            for pr in live:
                body = render_body(summary=prs.summary, repo=pr.repo, prs=live, session_url=url)
                await self.provider.update_body(prs.org_id, pr.repo, pr.number or 0, body)
        return await self._publish(prs)

    async def _ledger(self, prs: LinkedPRSet, repo: str, number: int, url: str) -> None:
        if self.record_side_effect is None:
            return
        await self.record_side_effect(
            self.kv,
            prs.session_id,
            kind="pr_created",
            summary=f"Opened PR #{number} on {repo}",
            data={"repo": repo, "number": number, "url": url},
            compensation={"action": "close_pr", "args": {"org_id": prs.org_id, "repo": repo, "number": number}},
        )

    # ------------------------------------------------------------ status, close

    async def refresh(self, session_id: str, org_id: str) -> LinkedPRSet | None:
        """Re-read each PR's status from the forge (merged, closed by a reviewer...)."""
        prs = await self.get(session_id, org_id)
        if prs is None:
            return None
        fresh = []
        for pr in prs.prs:
            if pr.number is None:
                fresh.append(pr)
                continue
            forge = await self.provider.get(org_id, pr.repo, pr.number)
            fresh.append(
                replace(
                    pr,
                    status=forge.status if forge.status in ("open", "draft", "closed", "merged") else pr.status,
                    head_sha=forge.head_sha or pr.head_sha,
                )
            )
        return await self._publish(replace(prs, prs=tuple(fresh)))

    async def offer_close(self, session_id: str, org_id: str) -> list[LinkedPR]:
        """What a rewind or abort should offer to close: the session's PRs that are still open."""
        prs = await self.get(session_id, org_id)
        return [] if prs is None else [p for p in prs.prs if p.status in OPEN_STATES and p.number is not None]

    async def close(
        self,
        session_id: str,
        org_id: str,
        *,
        repos: Collection[str] | None = None,
        delete_branches: bool = True,
        comment: str = "",
    ) -> LinkedPRSet | None:
        """Close the session's open PRs (all, or those on `repos`), optionally commenting and deleting branches."""
        prs = await self.get(session_id, org_id)
        if prs is None:
            return None
        wanted = None if repos is None else {r.lower() for r in repos}
        out = []
        for pr in prs.prs:
            if (
                pr.number is None
                or pr.status not in OPEN_STATES
                or (wanted is not None and pr.repo.lower() not in wanted)
            ):
                out.append(pr)
                continue
            if comment:
                await self.provider.comment(org_id, pr.repo, pr.number, comment)
            await self.provider.close(org_id, pr.repo, pr.number)
            if delete_branches:
                await self.provider.delete_branch(org_id, pr.repo, pr.branch)
            out.append(replace(pr, status="closed"))
        return await self._publish(replace(prs, prs=tuple(out)))

    async def compensate(self, action: str, args: dict[str, Any]) -> Mapping[str, Any] | None:
        """Executor for the side-effect ledger's `close_pr` and `delete_branch` compensations."""
        org, repo = str(args.get("org_id", "")), str(args.get("repo", ""))
        if action == "close_pr":
            forge = await self.provider.close(org, repo, int(args["number"]))
            return {"repo": repo, "number": forge.number, "status": forge.status}
        if action == "delete_branch":
            deleted = await self.provider.delete_branch(org, repo, str(args["branch"]))
            return {"repo": repo, "branch": args["branch"], "deleted": deleted}
        raise ToolInputError(f"unknown code compensation {action!r}")
