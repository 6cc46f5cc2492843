"""The REST client and provider against recorded responses shaped like GitHub's documented examples."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
import respx

from dexa.adapters.github import GitHubClient, GitHubProvider, StaticTokenCredentials
from dexa.core.errors import NotFoundError, PermissionDeniedError, ToolError

RECORDED = Path(__file__).parent / "recorded"
API = "https://api.github.com"
REPO = "octocat/Hello-World"
TOKEN = "ghs_16C7e42F292c6912E7710c838347Ae178B4a"


def _recorded(name: str) -> dict:
    return json.loads((RECORDED / name).read_text())


async def _token_for(_repo: str) -> str:
    return TOKEN


def test_create_pull_request_sends_githubs_fields_and_maps_the_response() -> None:
    async def main() -> None:
        with respx.mock(base_url=API) as mock:
            route = mock.post(f"/repos/{REPO}/pulls").respond(201, json=_recorded("pull.json"))
            async with httpx.AsyncClient() as http:
                pr = await GitHubClient(http, _token_for).create_pull(
                    REPO, head="new-topic", base="master", title="Amazing new feature", body="Please pull"
                )
            request = route.calls[0].request
            assert json.loads(request.content) == {
                "title": "Amazing new feature",
                "head": "new-topic",
                "base": "master",
                "body": "Please pull",
                "draft": False,
                "maintainer_can_modify": True,
            }
            assert request.headers["Authorization"] == f"Bearer {TOKEN}"
            assert request.headers["Accept"] == "application/vnd.github+json"
            assert request.headers["X-GitHub-Api-Version"] == "2022-11-28"
            assert (pr.number, pr.url, pr.head, pr.base, pr.status) == (
                1347,
                "https://github.com/octocat/Hello-World/pull/1347",
                "new-topic",
                "master",
                "open",
            )
            assert pr.head_sha == "6dcb09b5b57875f334f61aebed695e2e4193db5e"

    asyncio.run(main())


def test_list_pulls_filters_by_owner_and_branch() -> None:
    async def main() -> None:
        with respx.mock(base_url=API) as mock:
            route = mock.get(f"/repos/{REPO}/pulls").respond(200, json=[_recorded("pull.json")])
            async with httpx.AsyncClient() as http:
                pulls = await GitHubClient(http, _token_for).list_pulls(REPO, head="octocat:new-topic")
            params = route.calls[0].request.url.params
            assert params["head"] == "octocat:new-topic" and params["state"] == "open"
            assert [p.number for p in pulls] == [1347]

    asyncio.run(main())


def test_close_pull_request_patches_its_state() -> None:
    closed = {**_recorded("pull.json"), "state": "closed"}

    async def main() -> None:
        with respx.mock(base_url=API) as mock:
            route = mock.patch(f"/repos/{REPO}/pulls/1347").respond(200, json=closed)
            async with httpx.AsyncClient() as http:
                pr = await GitHubClient(http, _token_for).close_pull(REPO, 1347)
            assert json.loads(route.calls[0].request.content) == {"state": "closed"}
            assert pr.status == "closed"

    asyncio.run(main())


def test_comment_and_check_run_use_the_issue_and_checks_endpoints() -> None:
    async def main() -> None:
        with respx.mock(base_url=API) as mock:
            comment = mock.post(f"/repos/{REPO}/issues/1347/comments").respond(
                201, json=_recorded("issue_comment.json")
            )
            check = mock.post(f"/repos/{REPO}/check-runs").respond(201, json=_recorded("check_run.json"))
            async with httpx.AsyncClient() as http:
                client = GitHubClient(http, _token_for)
                made = await client.create_issue_comment(REPO, 1347, "Me too")
                run = await client.create_check_run(
                    REPO,
                    name="mighty_readme",
                    head_sha="ce58745",
                    status="in_progress",
                    title="Mighty Readme report",
                    summary="There are 0 failures",
                )
            assert json.loads(comment.calls[0].request.content) == {"body": "Me too"}
            assert made["html_url"].endswith("#issuecomment-1")
            sent = json.loads(check.calls[0].request.content)
            assert sent["output"] == {"title": "Mighty Readme report", "summary": "There are 0 failures"}
            assert run["id"] == 4

    asyncio.run(main())


def test_delete_branch_is_true_on_204_and_false_when_the_ref_is_already_gone() -> None:
    async def main() -> None:
        with respx.mock(base_url=API) as mock:
            mock.delete(f"/repos/{REPO}/git/refs/heads/dexa/abc-x").respond(204)
            mock.delete(f"/repos/{REPO}/git/refs/heads/dexa/abc-gone").respond(
                422, json={"message": "Reference does not exist"}
            )
            async with httpx.AsyncClient() as http:
                client = GitHubClient(http, _token_for)
                assert await client.delete_branch(REPO, "dexa/abc-x") is True
                assert await client.delete_branch(REPO, "dexa/abc-gone") is False

    asyncio.run(main())


def test_http_failures_map_to_the_dexa_error_tree_with_githubs_message() -> None:
    async def main() -> None:
        with respx.mock(base_url=API) as mock:
            mock.get(f"/repos/{REPO}/pulls/1").respond(404, json={"message": "Not Found"})
            mock.get(f"/repos/{REPO}/pulls/2").respond(403, json={"message": "Resource not accessible by integration"})
            mock.get(f"/repos/{REPO}/pulls/3").respond(502, text="bad gateway")
            mock.get(f"/repos/{REPO}/pulls/4").mock(side_effect=httpx.ConnectError("refused"))
            async with httpx.AsyncClient() as http:
                client = GitHubClient(http, _token_for)
                with pytest.raises(NotFoundError, match="Not Found"):
                    await client.get_pull(REPO, 1)
                with pytest.raises(PermissionDeniedError, match="not accessible by integration"):
                    await client.get_pull(REPO, 2)
                with pytest.raises(ToolError, match="HTTP 502"):
                    await client.get_pull(REPO, 3)
                with pytest.raises(ToolError, match="could not reach GitHub"):
                    await client.get_pull(REPO, 4)

    asyncio.run(main())


def test_provider_create_is_idempotent_when_github_says_the_pr_already_exists() -> None:
    async def main() -> None:
        with respx.mock(base_url=API) as mock:
            mock.post(f"/repos/{REPO}/pulls").respond(422, json=_recorded("validation_already_exists.json"))
            listing = mock.get(f"/repos/{REPO}/pulls").respond(200, json=[_recorded("pull.json")])
            async with httpx.AsyncClient() as http:
                provider = GitHubProvider(StaticTokenCredentials(token=TOKEN), http)
                pr = await provider.create("org", REPO, head="new-topic", base="master", title="t", body="b")
            assert pr.number == 1347 and pr.status == "open"
            assert listing.calls[0].request.url.params["head"] == "octocat:new-topic"

    asyncio.run(main())


def test_provider_refuses_repos_outside_a_static_tokens_scope() -> None:
    async def main() -> None:
        async with httpx.AsyncClient() as http:
            provider = GitHubProvider(StaticTokenCredentials(token=TOKEN, repos={"octocat/hello-world": True}), http)
            with pytest.raises(PermissionDeniedError, match="acme/other"):
                await provider.get("org", "acme/other", 1)

    asyncio.run(main())
