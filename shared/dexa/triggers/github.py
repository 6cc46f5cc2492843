"""GitHub App events that start sessions: `@dexa` in an issue, an issue comment or a PR comment.

`GitHubTriggers.handle` turns a verified delivery into a session on that repository, with the comment as the task,
and acknowledges it with a comment linking the session. `report` answers on the same thread when the session is
done, linking the pull requests it opened. Each delivery id is processed once (GitHub redelivers on timeouts and
on request), and comments by bots or by people without write access never start anything.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from dexa.code.ports import PullRequestProvider
from dexa.code.state import load_prs
from dexa.core.errors import DexaError
from dexa.core.ports import KeyValueStore

from .mention import extract_task

logger = logging.getLogger(__name__)

DELIVERIES_NS = "github_deliveries"
TRIGGERS_NS = "github_triggers"
REPORTS_NS = "github_trigger_reports"
TRUSTED_ASSOCIATIONS = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})
_CONTEXT_LIMIT = 4000


@dataclass(frozen=True, slots=True, kw_only=True)
class TriggerTask:
    org_id: str
    repo: str
    number: int
    kind: Literal["issue", "pull_request"]
    title: str
    url: str
    sender: str
    request: str
    context: str = ""
    base: str | None = None
    installation_id: int | None = None
    delivery_id: str = ""

    @property
    def prompt(self) -> str:
        noun = "pull request" if self.kind == "pull_request" else "issue"
        parts = [
            self.request or f"Please look at this {noun}.",
            "",
            f'Context: GitHub {noun} {self.repo}#{self.number} "{self.title}" ({self.url}), '
            f"asked by @{self.sender}. The repository is cloned in the workspace.",
        ]
        if self.context:
            parts += ["", self.context]
        parts += [
            "",
            "If you change code, finish by calling OpenPullRequests; your final answer is posted as a reply on GitHub.",
        ]
        return "\n".join(parts)


@dataclass(frozen=True, slots=True, kw_only=True)
class StartedSession:
    session_id: str
    url: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class TriggerResult:
    status: Literal["started", "ignored", "duplicate"]
    reason: str = ""
    session_id: str | None = None


SessionStarter = Callable[[TriggerTask], Awaitable[StartedSession]]
# (installation id, repo) -> the Dexa org that owns the installation, or None when unknown.
OrgResolver = Callable[[int | None, str], Awaitable[str | None]]


def _clip(text: str, limit: int = _CONTEXT_LIMIT) -> str:
    text = (text or "").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


class GitHubTriggers:
    def __init__(
        self,
        *,
        kv: KeyValueStore,
        provider: PullRequestProvider,
        start: SessionStarter,
        org_for: OrgResolver,
        handle: str = "dexa",
        trusted_associations: Collection[str] = TRUSTED_ASSOCIATIONS,
    ) -> None:
        self.kv = kv
        self.provider = provider
        self.start = start
        self.org_for = org_for
        self.handle = handle
        self.trusted = frozenset(trusted_associations)

    async def handle_delivery(self, *, event: str, delivery_id: str, payload: Mapping[str, Any]) -> TriggerResult:
        """Process one verified delivery. A delivery id seen before is ignored (status "duplicate")."""
        if not await self.kv.kv_put_if_absent(DELIVERIES_NS, delivery_id, {"event": event}):
            logger.info("github delivery %s already processed; ignored", delivery_id)
            return TriggerResult(status="duplicate", reason="delivery already processed")
        try:
            return await self._handle(event, delivery_id, payload)
        except Exception:
            # Let GitHub's redelivery (or a manual one) try again.
            await self.kv.kv_delete(DELIVERIES_NS, delivery_id)
            raise

    async def _handle(self, event: str, delivery_id: str, payload: Mapping[str, Any]) -> TriggerResult:
        parsed = self._parse(event, payload)
        if isinstance(parsed, str):
            return TriggerResult(status="ignored", reason=parsed)
        repo = str(payload["repository"]["full_name"])
        installation = (payload.get("installation") or {}).get("id")
        org_id = await self.org_for(installation, repo)
        if org_id is None:
            return TriggerResult(status="ignored", reason=f"no Dexa org is linked to {repo}")
        task = TriggerTask(org_id=org_id, repo=repo, installation_id=installation, delivery_id=delivery_id, **parsed)
        if task.kind == "pull_request" and task.base is None:
            task = await self._with_pr_base(task)
        started = await self.start(task)
        await self.kv.kv_put(
            TRIGGERS_NS,
            started.session_id,
            {
                "repo": task.repo,
                "number": task.number,
                "kind": task.kind,
                "sender": task.sender,
                "delivery_id": delivery_id,
                "session_url": started.url,
            },
            org_id=org_id,
        )
        link = f" Follow along: {started.url}" if started.url else ""
        await self._comment(org_id, task.repo, task.number, f"On it, @{task.sender}.{link}")
        logger.info("github %s on %s#%s started session %s", event, repo, task.number, started.session_id)
        return TriggerResult(status="started", session_id=started.session_id)

    def _parse(self, event: str, payload: Mapping[str, Any]) -> dict[str, Any] | str:
        """TriggerTask fields from the payload, or why the event does not start a session."""
        action = payload.get("action")
        if event == "issue_comment" and action == "created":
            issue, comment = payload["issue"], payload["comment"]
            kind = "pull_request" if issue.get("pull_request") else "issue"
            number, title, url, context = (
                issue["number"],
                issue.get("title", ""),
                issue.get("html_url", ""),
                _clip(issue.get("body") or ""),
            )
            base = None
        elif event == "pull_request_review_comment" and action == "created":
            pr, comment = payload["pull_request"], payload["comment"]
            kind, number, title, url = "pull_request", pr["number"], pr.get("title", ""), pr.get("html_url", "")
            context = _clip(f"On {comment.get('path', '')}:\n{comment.get('diff_hunk', '')}")
            base = (pr.get("head") or {}).get("ref")
        elif event == "issues" and action == "opened":
            comment = issue = payload["issue"]
            kind, number, title, url = "issue", issue["number"], issue.get("title", ""), issue.get("html_url", "")
            context, base = "", None
        else:
            return f"event {event}/{action} does not start sessions"
        user = comment.get("user") or {}
        if user.get("type") == "Bot":
            return "comments by bots never start sessions"
        association = str(comment.get("author_association", "NONE"))
        request = extract_task(comment.get("body") or "", handle=self.handle)
        if request is None:
            return f"no @{self.handle} mention"
        if association not in self.trusted:
            return f"@{user.get('login', '?')} ({association}) may not start sessions on this repository"
        return {
            "number": int(number),
            "kind": kind,
            "title": str(title),
            "url": str(url),
            "sender": str(user.get("login", "")),
            "request": request,
            "context": context,
            "base": base,
        }

    async def _with_pr_base(self, task: TriggerTask) -> TriggerTask:
        try:
            pr = await self.provider.get(task.org_id, task.repo, task.number)
        except DexaError as exc:
            logger.warning("could not read %s#%s to find its branch: %s", task.repo, task.number, exc.message)
            return task
        return replace(task, base=pr.head or None)

    async def _comment(self, org_id: str, repo: str, number: int, body: str) -> str:
        try:
            return await self.provider.comment(org_id, repo, number, body)
        except DexaError as exc:  # the session runs anyway; a lost acknowledgement is not worth failing it
            logger.warning("could not comment on %s#%s: %s", repo, number, exc.message)
            return ""

    async def report(self, session_id: str, org_id: str, *, answer: str, failed: bool = False) -> str | None:
        """Answer on the thread that started `session_id`, once, linking its pull requests. Returns the comment
        URL, or None when the session was not started by a GitHub trigger (or was already answered)."""
        doc = await self.kv.kv_get(TRIGGERS_NS, session_id, org_id=org_id)
        if doc is None or not await self.kv.kv_put_if_absent(REPORTS_NS, session_id, {"at": "done"}, org_id=org_id):
            return None
        prs = await load_prs(self.kv, session_id, org_id)
        lines = [("Dexa could not finish: " if failed else "") + (_clip(answer, 60000) or "Done.")]
        links = [p for p in (prs.prs if prs else ()) if p.url]
        if links:
            lines += ["", "**Pull requests:**"] + [f"- {p.repo}#{p.number}: {p.url} ({p.status})" for p in links]
        if doc.get("session_url"):
            lines += ["", f"Session: {doc['session_url']}"]
        return await self._comment(org_id, str(doc["repo"]), int(doc["number"]), "\n".join(lines))
