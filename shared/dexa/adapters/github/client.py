"""A small GitHub REST client (httpx): pull requests, issue comments, check runs, refs.

Only the endpoints Dexa needs, with GitHub's documented shapes. HTTP failures become Dexa errors at this
boundary: 401/403 -> PermissionDeniedError, 404 -> NotFoundError, 409 -> ConflictError, anything else (422
validation, 5xx, network) -> ToolError, whose message carries GitHub's own explanation.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from dexa.core.errors import ConflictError, NotFoundError, PermissionDeniedError, ToolError

if TYPE_CHECKING:  # httpx is imported by the first request: it costs a cold start ~0.1 s (its CLI pulls in rich)
    import httpx

logger = logging.getLogger(__name__)

API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
USER_AGENT = "dexa-github-app"

TokenFor = Callable[[str], Awaitable[str]]


def api_headers(token: str) -> dict[str, str]:
    return {
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": API_VERSION,
        "Authorization": f"Bearer {token}",
        "User-Agent": USER_AGENT,
    }


def _explain(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:300]
    if not isinstance(body, dict):
        return str(body)[:300]
    parts = [str(body.get("message", ""))]
    for err in body.get("errors") or []:
        if isinstance(err, dict):
            parts.append(str(err.get("message") or err.get("code") or ""))
        else:
            parts.append(str(err))
    return "; ".join(p for p in parts if p)


def raise_for_github(resp: httpx.Response, doing: str) -> None:
    """Map a failed GitHub response to the Dexa error tree, naming what we were doing."""
    if resp.is_success:
        return
    why = _explain(resp)
    message = f"GitHub refused to {doing}: HTTP {resp.status_code} {why}".rstrip()
    if resp.status_code in (401, 403):
        raise PermissionDeniedError(message, code="github_forbidden")
    if resp.status_code == 404:
        raise NotFoundError(message, code="github_not_found")
    if resp.status_code == 409:
        raise ConflictError(message, code="github_conflict")
    if resp.status_code == 422:
        raise ToolError(message, code="github_unprocessable")
    raise ToolError(message, code="github_unavailable")


@dataclass(frozen=True, slots=True, kw_only=True)
class PullRequest:
    repo: str
    number: int
    url: str
    state: str
    title: str
    head: str
    base: str
    head_sha: str = ""
    merged: bool = False
    draft: bool = False
    body: str = ""

    @staticmethod
    def from_api(repo: str, data: Mapping[str, Any]) -> PullRequest:
        head = data.get("head") or {}
        base = data.get("base") or {}
        return PullRequest(
            repo=repo,
            number=int(data["number"]),
            url=str(data.get("html_url", "")),
            state=str(data.get("state", "open")),
            title=str(data.get("title", "")),
            head=str(head.get("ref", "")),
            base=str(base.get("ref", "")),
            head_sha=str(head.get("sha", "")),
            # The list endpoint omits `merged`; there, a merge time is the only sign.
            merged=bool(data["merged"]) if "merged" in data else bool(data.get("merged_at")),
            draft=bool(data.get("draft", False)),
            body=str(data.get("body") or ""),
        )

    @property
    def status(self) -> str:
        """open | closed | merged | draft."""
        if self.merged:
            return "merged"
        if self.state == "open" and self.draft:
            return "draft"
        return self.state


class GitHubClient:
    """REST calls for one caller; `token_for(repo)` supplies the bearer token for each repository."""

    def __init__(self, http: httpx.AsyncClient, token_for: TokenFor, *, api_url: str = API_URL) -> None:
        self.http = http
        self.token_for = token_for
        self.api_url = api_url.rstrip("/")

    async def _call(
        self,
        method: str,
        repo: str,
        path: str,
        doing: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        import httpx

        token = await self.token_for(repo)
        try:
            resp = await self.http.request(
                method, f"{self.api_url}/repos/{repo}{path}", json=json, params=params, headers=api_headers(token)
            )
        except httpx.HTTPError as exc:
            raise ToolError(f"could not reach GitHub to {doing}: {exc}", code="github_unavailable") from exc
        raise_for_github(resp, doing)
        return resp

    async def get_repo(self, repo: str) -> dict[str, Any]:
        return (await self._call("GET", repo, "", f"read repository {repo}")).json()

    async def create_pull(
        self, repo: str, *, head: str, base: str, title: str, body: str, draft: bool = False
    ) -> PullRequest:
        payload = {
            "title": title,
            "head": head,
            "base": base,
            "body": body,
            "draft": draft,
            "maintainer_can_modify": True,
        }
        resp = await self._call("POST", repo, "/pulls", f"open a pull request {head} -> {base} on {repo}", json=payload)
        return PullRequest.from_api(repo, resp.json())

    async def get_pull(self, repo: str, number: int) -> PullRequest:
        resp = await self._call("GET", repo, f"/pulls/{number}", f"read pull request {repo}#{number}")
        return PullRequest.from_api(repo, resp.json())

    async def list_pulls(self, repo: str, *, head: str | None = None, state: str = "open") -> list[PullRequest]:
        """`head` is `owner:branch`, as GitHub's filter expects."""
        params = {"state": state, "per_page": "100"}
        if head:
            params["head"] = head
        resp = await self._call("GET", repo, "/pulls", f"list pull requests on {repo}", params=params)
        return [PullRequest.from_api(repo, item) for item in resp.json()]

    async def update_pull(
        self, repo: str, number: int, *, title: str | None = None, body: str | None = None, state: str | None = None
    ) -> PullRequest:
        payload = {k: v for k, v in (("title", title), ("body", body), ("state", state)) if v is not None}
        resp = await self._call("PATCH", repo, f"/pulls/{number}", f"update pull request {repo}#{number}", json=payload)
        return PullRequest.from_api(repo, resp.json())

    async def close_pull(self, repo: str, number: int) -> PullRequest:
        return await self.update_pull(repo, number, state="closed")

    async def create_issue_comment(self, repo: str, number: int, body: str) -> dict[str, Any]:
        """Comment on an issue or a pull request (PRs are issues for comments)."""
        resp = await self._call(
            "POST", repo, f"/issues/{number}/comments", f"comment on {repo}#{number}", json={"body": body}
        )
        return resp.json()

    async def create_check_run(
        self,
        repo: str,
        *,
        name: str,
        head_sha: str,
        status: str = "completed",
        conclusion: str | None = None,
        details_url: str | None = None,
        title: str = "",
        summary: str = "",
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {"name": name, "head_sha": head_sha, "status": status}
        if conclusion is not None:
            payload["conclusion"] = conclusion
        if details_url is not None:
            payload["details_url"] = details_url
        if title or summary:
            payload["output"] = {"title": title or name, "summary": summary}
        resp = await self._call("POST", repo, "/check-runs", f"create check run {name!r} on {repo}", json=payload)
        return resp.json()

    async def delete_branch(self, repo: str, branch: str) -> bool:
        """Delete `refs/heads/<branch>`; False when it was already gone (GitHub answers 422 for a missing ref)."""
        try:
            await self._call(
                "DELETE", repo, f"/git/refs/heads/{quote(branch, safe='/')}", f"delete branch {branch} on {repo}"
            )
        except (ToolError, NotFoundError) as exc:
            if isinstance(exc, NotFoundError) or exc.code == "github_unprocessable":
                return False
            raise
        return True
