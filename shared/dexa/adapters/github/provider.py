"""GitHubProvider: `dexa.code.ports.PullRequestProvider` over the REST client and a CredentialSource."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dexa.core.errors import ToolError
from dexa.core.forge import CredentialSource, ForgePullRequest

from .client import API_URL, GitHubClient, PullRequest

if TYPE_CHECKING:
    import httpx


def _forge(pr: PullRequest) -> ForgePullRequest:
    return ForgePullRequest(
        repo=pr.repo,
        number=pr.number,
        url=pr.url,
        status=pr.status,
        head=pr.head,
        base=pr.base,
        title=pr.title,
        head_sha=pr.head_sha,
    )


class GitHubProvider:
    name = "github"

    def __init__(
        self,
        credentials: CredentialSource,
        http: httpx.AsyncClient,
        *,
        api_url: str = API_URL,
        web_url: str = "https://github.com",
    ) -> None:
        self.credentials = credentials
        self.http = http
        self.api_url = api_url
        self.web_url = web_url.rstrip("/")

    def client(self, org_id: str) -> GitHubClient:
        async def token_for(repo: str) -> str:
            token, _ = await self.credentials.installation_token(org_id, repo)
            return token

        return GitHubClient(self.http, token_for, api_url=self.api_url)

    def repo_url(self, repo: str) -> str:
        return f"{self.web_url}/{repo}"

    async def default_branch(self, org_id: str, repo: str) -> str:
        return str((await self.client(org_id).get_repo(repo)).get("default_branch") or "main")

    async def find_open(self, org_id: str, repo: str, *, head: str) -> ForgePullRequest | None:
        owner = repo.split("/", 1)[0]
        pulls = await self.client(org_id).list_pulls(repo, head=f"{owner}:{head}", state="open")
        return _forge(pulls[0]) if pulls else None

    async def create(
        self, org_id: str, repo: str, *, head: str, base: str, title: str, body: str, draft: bool = False
    ) -> ForgePullRequest:
        try:
            pr = await self.client(org_id).create_pull(repo, head=head, base=base, title=title, body=body, draft=draft)
        except ToolError as exc:
            # "A pull request already exists for owner:head." - a retried call after a crash lands here.
            if exc.code != "github_unprocessable" or "already exists" not in exc.message:
                raise
            existing = await self.find_open(org_id, repo, head=head)
            if existing is None:
                raise
            return existing
        return _forge(pr)

    async def update_body(self, org_id: str, repo: str, number: int, body: str) -> ForgePullRequest:
        return _forge(await self.client(org_id).update_pull(repo, number, body=body))

    async def get(self, org_id: str, repo: str, number: int) -> ForgePullRequest:
        return _forge(await self.client(org_id).get_pull(repo, number))

    async def close(self, org_id: str, repo: str, number: int) -> ForgePullRequest:
        return _forge(await self.client(org_id).close_pull(repo, number))

    async def delete_branch(self, org_id: str, repo: str, branch: str) -> bool:
        return await self.client(org_id).delete_branch(repo, branch)

    async def comment(self, org_id: str, repo: str, number: int, body: str) -> str:
        return str((await self.client(org_id).create_issue_comment(repo, number, body)).get("html_url", ""))
