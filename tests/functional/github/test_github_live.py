"""Against api.github.com, only when GITHUB_TOKEN is set (read-only: it changes nothing on GitHub)."""

from __future__ import annotations

import asyncio
import os

import httpx
import pytest

from dexa.adapters.github import GitHubClient

pytestmark = [pytest.mark.live("GITHUB_TOKEN")]

REPO = os.environ.get("DEXA_LIVE_GITHUB_REPO", "octocat/Hello-World")


def test_live_github_answers_the_documented_shapes() -> None:
    token = os.environ["GITHUB_TOKEN"]

    async def token_for(_repo: str) -> str:
        return token

    async def main() -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            client = GitHubClient(http, token_for)
            repo = await client.get_repo(REPO)
            assert repo["full_name"].lower() == REPO.lower() and repo["default_branch"]
            pulls = await client.list_pulls(REPO, state="all")
            for pr in pulls[:5]:
                assert (
                    pr.number > 0
                    and pr.url.startswith("https://github.com/")
                    and pr.status in ("open", "draft", "closed", "merged")
                )

    asyncio.run(main())
