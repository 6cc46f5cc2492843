"""The GitHub App webhook: signatures, replayed deliveries, `@dexa` starting a session, and the answer comment."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from dexa.adapters.git import git_env
from dexa.adapters.github import GitHubProvider, StaticTokenCredentials, sign_payload
from dexa.adapters.github.fake import FakeGitHub
from dexa.adapters.sqlite import SqliteStore
from dexa.code.state import LinkedPR, LinkedPRSet, save_prs
from dexa.triggers import GitHubTriggers, StartedSession, TriggerTask, create_webhook_router

SECRET = "It's a Secret to Everybody"
ORG = "org_acme"
REPO = "acme/api"


class Harness:
    def __init__(self, tmp: Path, *, fail_start: bool = False) -> None:
        self.fake = FakeGitHub(root=tmp / "gh", static_tokens={"ghs_static"})
        self.fake.add_repo(REPO, {"README.md": "# api\n"})
        self.store = SqliteStore(tmp / "db.sqlite")
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.fake.app()))
        self.provider = GitHubProvider(
            StaticTokenCredentials(token="ghs_static"),
            self.http,
            api_url="http://github.test/api/v3",
            web_url="http://github.test",
        )
        self.started: list[TriggerTask] = []
        self.fail_start = fail_start

        async def start(task: TriggerTask) -> StartedSession:
            if self.fail_start:
                raise RuntimeError("runtime is down")
            self.started.append(task)
            sid = f"ses_trig{len(self.started):04d}"
            return StartedSession(session_id=sid, url=f"https://dexa.test/sessions/{sid}")

        async def org_for(installation: int | None, repo: str) -> str | None:
            return ORG if installation == 77 else None

        self.triggers = GitHubTriggers(kv=self.store, provider=self.provider, start=start, org_for=org_for)
        app = FastAPI()
        app.include_router(create_webhook_router(secret=SECRET, triggers=self.triggers))
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dexa.test")

    async def post(
        self, event: str, payload: dict[str, Any], *, delivery: str = "d-1", signature: str | None = "sign"
    ) -> httpx.Response:
        body = json.dumps(payload).encode()
        headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "Content-Type": "application/json"}
        if signature == "sign":
            headers["X-Hub-Signature-256"] = sign_payload(SECRET, body)
        elif signature is not None:
            headers["X-Hub-Signature-256"] = signature
        return await self.client.post("/webhooks/github", content=body, headers=headers)

    async def aclose(self) -> None:
        await self.client.aclose()
        await self.http.aclose()
        self.store.close()


def comment_payload(
    body: str, *, association: str = "MEMBER", user_type: str = "User", pr: bool = False, number: int = 7
) -> dict[str, Any]:
    issue: dict[str, Any] = {
        "number": number,
        "title": "API contract: rename name",
        "body": "Users want full names.",
        "html_url": f"https://github.com/{REPO}/issues/{number}",
    }
    if pr:
        issue["pull_request"] = {"url": f"https://api.github.com/repos/{REPO}/pulls/{number}"}
    return {
        "action": "created",
        "issue": issue,
        "comment": {
            "id": 99,
            "body": body,
            "author_association": association,
            "user": {"login": "octocat", "type": user_type},
        },
        "repository": {"full_name": REPO, "default_branch": "main"},
        "installation": {"id": 77},
        "sender": {"login": "octocat", "type": user_type},
    }


def test_github_documents_this_signature_for_its_example_payload() -> None:
    assert sign_payload(SECRET, b"Hello, World!") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )


def test_valid_mention_starts_a_session_and_acknowledges_with_a_comment(tmp_path: Path) -> None:
    async def main() -> None:
        h = Harness(tmp_path)
        try:
            resp = await h.post("issue_comment", comment_payload("@dexa rename `name` to `full_name` everywhere"))
            assert resp.status_code == 202, resp.text
            assert resp.json()["status"] == "started" and resp.json()["session_id"] == "ses_trig0001"
            [task] = h.started
            assert (task.org_id, task.repo, task.number, task.kind, task.sender) == (ORG, REPO, 7, "issue", "octocat")
            assert task.request == "rename `name` to `full_name` everywhere"
            assert "acme/api#7" in task.prompt and "Users want full names." in task.prompt
            [ack] = h.fake.comments
            assert ack["issue_number"] == 7 and "https://dexa.test/sessions/ses_trig0001" in ack["body"]
        finally:
            await h.aclose()

    asyncio.run(main())


@pytest.mark.parametrize("signature", [None, "sha256=" + "0" * 64, "sha1=abc", "garbage"])
def test_missing_or_wrong_signature_is_rejected_and_starts_nothing(tmp_path: Path, signature: str | None) -> None:
    async def main() -> None:
        h = Harness(tmp_path)
        try:
            resp = await h.post("issue_comment", comment_payload("@dexa do it"), signature=signature)
            assert resp.status_code == 401 and resp.json()["reason"] == "invalid signature"
            assert h.started == [] and h.fake.comments == []
        finally:
            await h.aclose()

    asyncio.run(main())


def test_a_signature_over_a_different_body_is_rejected(tmp_path: Path) -> None:
    async def main() -> None:
        h = Harness(tmp_path)
        try:
            other = sign_payload(SECRET, json.dumps(comment_payload("harmless")).encode())
            resp = await h.post("issue_comment", comment_payload("@dexa delete everything"), signature=other)
            assert resp.status_code == 401 and h.started == []
        finally:
            await h.aclose()

    asyncio.run(main())


def test_a_replayed_delivery_id_is_ignored(tmp_path: Path) -> None:
    async def main() -> None:
        h = Harness(tmp_path)
        try:
            first = await h.post("issue_comment", comment_payload("@dexa fix it"), delivery="guid-1")
            replay = await h.post("issue_comment", comment_payload("@dexa fix it"), delivery="guid-1")
            assert first.status_code == 202
            assert replay.status_code == 200 and replay.json()["status"] == "duplicate"
            assert len(h.started) == 1 and len(h.fake.comments) == 1
            again = await h.post("issue_comment", comment_payload("@dexa fix it"), delivery="guid-2")
            assert again.status_code == 202 and len(h.started) == 2
        finally:
            await h.aclose()

    asyncio.run(main())


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (comment_payload("looks good"), "no @dexa mention"),
        (comment_payload("> @dexa do it\nno thanks"), "no @dexa mention"),
        (comment_payload("@dexa do it", user_type="Bot"), "bots"),
        (comment_payload("@dexa do it", association="NONE"), "may not start sessions"),
        ({**comment_payload("@dexa do it"), "installation": {"id": 5}}, "no Dexa org"),
        ({**comment_payload("@dexa do it"), "action": "edited"}, "does not start sessions"),
    ],
)
def test_comments_that_must_not_start_a_session_are_ignored(tmp_path: Path, payload: dict, reason: str) -> None:
    async def main() -> None:
        h = Harness(tmp_path)
        try:
            resp = await h.post("issue_comment", payload)
            assert resp.status_code == 200 and resp.json()["status"] == "ignored"
            assert reason in resp.json()["reason"]
            assert h.started == [] and h.fake.comments == []
        finally:
            await h.aclose()

    asyncio.run(main())


def test_ping_answers_pong(tmp_path: Path) -> None:
    async def main() -> None:
        h = Harness(tmp_path)
        try:
            resp = await h.post("ping", {"zen": "Keep it logically awesome.", "hook_id": 1})
            assert resp.status_code == 200 and resp.json() == {"status": "pong"}
        finally:
            await h.aclose()

    asyncio.run(main())


def test_pr_comments_start_from_the_pull_requests_branch(tmp_path: Path) -> None:
    async def main() -> None:
        h = Harness(tmp_path)
        try:
            review = {
                "action": "created",
                "pull_request": {
                    "number": 3,
                    "title": "Feature",
                    "html_url": "https://github.com/acme/api/pull/3",
                    "head": {"ref": "feature-x"},
                    "base": {"ref": "main"},
                },
                "comment": {
                    "body": "@dexa handle the None case here",
                    "path": "api/contract.py",
                    "diff_hunk": "@@ -1 +1 @@",
                    "author_association": "OWNER",
                    "user": {"login": "octocat", "type": "User"},
                },
                "repository": {"full_name": REPO},
                "installation": {"id": 77},
            }
            resp = await h.post("pull_request_review_comment", review, delivery="r-1")
            assert resp.status_code == 202
            assert h.started[0].kind == "pull_request" and h.started[0].base == "feature-x"
            assert "api/contract.py" in h.started[0].prompt
        finally:
            await h.aclose()

    asyncio.run(main())


def test_an_issue_comment_on_a_pull_request_starts_from_that_pull_requests_branch(tmp_path: Path) -> None:
    async def main() -> None:
        h = Harness(tmp_path)
        try:
            bare = h.fake.root / f"{REPO}.git"
            subprocess.run(["git", "branch", "feature-y", "main"], cwd=bare, check=True, env=git_env())
            pr = await h.provider.create(ORG, REPO, head="feature-y", base="main", title="Feature Y", body="")
            resp = await h.post("issue_comment", comment_payload("@dexa add tests", pr=True, number=pr.number))
            assert resp.status_code == 202
            assert h.started[0].kind == "pull_request" and h.started[0].base == "feature-y"
        finally:
            await h.aclose()

    asyncio.run(main())


def test_the_answer_is_posted_once_with_the_linked_pull_requests(tmp_path: Path) -> None:
    async def main() -> None:
        h = Harness(tmp_path)
        try:
            await h.post("issue_comment", comment_payload("@dexa rename the field"))
            sid = "ses_trig0001"
            await save_prs(
                h.store,
                LinkedPRSet(
                    session_id=sid,
                    org_id=ORG,
                    title="t",
                    prs=(
                        LinkedPR(
                            repo="acme/api",
                            branch="dexa/trig0001-x",
                            base="main",
                            status="open",
                            number=12,
                            url="https://github.com/acme/api/pull/12",
                        ),
                        LinkedPR(
                            repo="acme/web",
                            branch="dexa/trig0001-x",
                            base="main",
                            status="open",
                            number=4,
                            url="https://github.com/acme/web/pull/4",
                        ),
                    ),
                ),
            )
            url = await h.triggers.report(sid, ORG, answer="Renamed `name` to `full_name` in both repos.")
            assert url and url.endswith("#issuecomment-2")
            answer = h.fake.comments[-1]["body"]
            assert "Renamed `name`" in answer and "https://github.com/acme/api/pull/12" in answer
            assert "https://github.com/acme/web/pull/4" in answer and "ses_trig0001" in answer
            assert await h.triggers.report(sid, ORG, answer="again") is None
            assert await h.triggers.report("ses_unknown", ORG, answer="x") is None
            assert len(h.fake.comments) == 2
        finally:
            await h.aclose()

    asyncio.run(main())


def test_a_failed_start_lets_the_same_delivery_be_retried(tmp_path: Path) -> None:
    async def main() -> None:
        h = Harness(tmp_path, fail_start=True)
        try:
            with pytest.raises(RuntimeError):
                await h.post("issue_comment", comment_payload("@dexa fix it"), delivery="guid-9")
            h.fail_start = False
            resp = await h.post("issue_comment", comment_payload("@dexa fix it"), delivery="guid-9")
            assert resp.status_code == 202 and len(h.started) == 1
        finally:
            await h.aclose()

    asyncio.run(main())
