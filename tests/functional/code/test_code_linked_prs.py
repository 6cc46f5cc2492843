"""Linked PRs end to end: real git through the real proxy to FakeGitHub, with a real GitHub App key."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dexa.adapters.sqlite import SqliteStore
from dexa.checkpoints import SideEffectLedger, record_side_effect
from dexa.code.ports import PlannedPullRequest
from dexa.code.repos import RepoSet
from dexa.code.state import load_prs
from dexa.core.errors import ToolError, ToolInputError
from dexa.demo.code_stack import LocalCodeStack, local_code_stack
from dexa.testing.fakes import DirWorkspace

SID = "ses_c0de5e55000000000000"
ORG = "org_acme"
REPOS = {
    "acme/api": {"api/contract.py": "FIELDS = ['id', 'name']\n"},
    "acme/web": {"web/types.py": "USER_KEYS = ('id', 'name')\n"},
    "acme/docs": {"README.md": "docs\n"},
}


@contextlib.asynccontextmanager
async def stack(tmp: Path, **kw) -> AsyncIterator[tuple[LocalCodeStack, SqliteStore, RepoSet]]:
    store = SqliteStore(tmp / "db.sqlite")
    try:
        async with local_code_stack(
            tmp / "stack", repos=REPOS, kv=store, record_side_effect=record_side_effect, **kw
        ) as s:
            ws_root = tmp / "ws"
            ws_root.mkdir()
            repos = s.code.repo_set(session_id=SID, org_id=ORG, workspace=DirWorkspace(ws_root), slug="rename name")
            yield s, store, repos
    finally:
        store.close()


async def _change_both(repos: RepoSet, *, with_docs: bool = False) -> None:
    api = await repos.add("acme/api")
    web = await repos.add("acme/web")
    if with_docs:
        await repos.add("acme/docs")  # cloned, never modified: it must not get a PR
    (Path(api.path) / "api" / "contract.py").write_text("FIELDS = ['id', 'full_name']\n")
    (Path(web.path) / "web" / "types.py").write_text("USER_KEYS = ('id', 'full_name')\n")


def test_one_pr_per_modified_repo_each_linking_the_others_and_the_session(tmp_path: Path) -> None:
    async def main() -> None:
        async with stack(tmp_path) as (s, store, repos):
            await _change_both(repos, with_docs=True)
            prs = await s.code.prs().open(repos, title="Rename name to full_name", summary="API and client agree.")
            assert prs.status == "open" and [p.repo for p in prs.prs] == ["acme/api", "acme/web"]
            pulls = s.fake.pulls
            assert pulls["acme/docs"] == [] and len(pulls["acme/api"]) == len(pulls["acme/web"]) == 1
            api_pr, web_pr = pulls["acme/api"][0], pulls["acme/web"][0]
            for pr, other in ((api_pr, web_pr), (web_pr, api_pr)):
                assert pr["head"] == "dexa/c0de5e55-rename-name" and pr["base"] == "main"
                assert f"/pull/{other['number']}" in pr["body"] and "(this pull request)" in pr["body"]
                assert f"http://dexa.local/sessions/{SID}" in pr["body"]
                assert "API and client agree." in pr["body"]
            assert s.fake.file_at("acme/api", "dexa/c0de5e55-rename-name", "api/contract.py").endswith("'full_name']\n")
            stored = await load_prs(store, SID, ORG)
            assert stored is not None and stored.status == "open"
            assert [(p.repo, p.number, p.status) for p in stored.prs] == [
                ("acme/api", api_pr["number"], "open"),
                ("acme/web", web_pr["number"], "open"),
            ]
            effects = await SideEffectLedger(store).list(SID)
            assert sorted(e.kind for e in effects) == ["branch_pushed", "branch_pushed", "pr_created", "pr_created"]
            assert {e.compensation["action"] for e in effects if e.compensation} == {"close_pr", "delete_branch"}

    asyncio.run(main())


def test_calling_again_pushes_new_commits_to_the_same_prs(tmp_path: Path) -> None:
    async def main() -> None:
        async with stack(tmp_path) as (s, _store, repos):
            await _change_both(repos)
            first = await s.code.prs().open(repos, title="Rename", summary="v1")
            api = await repos.get("acme/api")
            (Path(api.path) / "api" / "contract.py").write_text("FIELDS = ['id', 'full_name', 'email']\n")
            again = await s.code.prs().open(repos, title="Rename", summary="v2")
            assert [p.number for p in again.prs] == [p.number for p in first.prs]
            assert len(s.fake.pulls["acme/api"]) == 1
            head = s.fake.branch_sha("acme/api", api.branch)
            assert s.fake.state()["pulls"]["acme/api"][0]["head"]["sha"] == head
            assert "email" in s.fake.file_at("acme/api", api.branch, "api/contract.py")

    asyncio.run(main())


def test_rewind_offers_the_open_prs_and_closing_them_deletes_their_branches(tmp_path: Path) -> None:
    async def main() -> None:
        async with stack(tmp_path) as (s, store, repos):
            await _change_both(repos)
            await s.code.open_linked_prs(SID, ORG, repos.workspace, title="Rename", summary="s")
            offered = await s.code.offer_close(SID, ORG)
            assert [p.repo for p in offered] == ["acme/api", "acme/web"]
            closed = await s.code.close_linked_prs(SID, ORG, comment="Rewound in Dexa; closing.")
            assert closed is not None and closed.status == "closed"
            assert all(p["state"] == "closed" for r in ("acme/api", "acme/web") for p in s.fake.pulls[r])
            assert s.fake.branch_sha("acme/api", "dexa/c0de5e55-rename-name") is None
            assert [c["body"] for c in s.fake.comments] == ["Rewound in Dexa; closing."] * 2
            assert await s.code.offer_close(SID, ORG) == []
            assert (await load_prs(store, SID, ORG)).status == "closed"  # type: ignore[union-attr]

    asyncio.run(main())


def test_ledger_compensation_closes_a_pr_through_the_injected_executor(tmp_path: Path) -> None:
    async def main() -> None:
        async with stack(tmp_path) as (s, store, repos):
            await _change_both(repos)
            await s.code.prs().open(repos, title="Rename", summary="s")
            ledger = SideEffectLedger(store)
            pr_effect = next(e for e in await ledger.list(SID) if e.kind == "pr_created")
            done = await ledger.compensate(SID, pr_effect.id, s.code.compensate)
            assert done.compensated and done.compensated["ok"] and done.compensated["result"]["status"] == "closed"
            repo = pr_effect.data["repo"]
            assert s.fake.pulls[repo][0]["state"] == "closed"

    asyncio.run(main())


def test_output_policy_can_stage_the_prs_until_approved(tmp_path: Path) -> None:
    staged: list[list[PlannedPullRequest]] = []

    async def gate(*, org_id: str, session_id: str, plan: list[PlannedPullRequest]) -> str:
        return "stage"

    async def stager(*, org_id: str, session_id: str, plan: list[PlannedPullRequest]) -> str:
        staged.append(plan)
        return "out_123"

    async def main() -> None:
        async with stack(tmp_path, gate=gate, stager=stager) as (s, _store, repos):
            await _change_both(repos)
            prs = await s.code.prs().open(repos, title="Rename", summary="s")
            assert prs.status == "staged" and prs.output_id == "out_123"
            assert [p.repo for p in staged[0]] == ["acme/api", "acme/web"] and "acme/web" in staged[0][0].body
            assert s.fake.pulls["acme/api"] == [] and s.fake.pulls["acme/web"] == []
            # Branches are pushed already, so approval needs only the GitHub API, not the workspace.
            assert s.fake.branch_sha("acme/api", "dexa/c0de5e55-rename-name") is not None
            done = await s.code.execute_staged(SID, ORG)
            assert done.status == "open" and len(s.fake.pulls["acme/api"]) == 1
            with pytest.raises(ToolInputError, match="no staged"):
                await s.code.execute_staged(SID, ORG)

    asyncio.run(main())


def test_a_rewritten_branch_is_refused_by_the_proxy_and_the_reason_reaches_the_caller(tmp_path: Path) -> None:
    async def main() -> None:
        async with stack(tmp_path) as (s, _store, repos):
            await _change_both(repos)
            await s.code.prs().open(repos, title="Rename", summary="s")
            api = await repos.get("acme/api")
            proc = await asyncio.create_subprocess_shell("git commit -q --amend -m rewritten", cwd=api.path)
            assert await proc.wait() == 0
            with pytest.raises(ToolError, match="non-fast-forward"):
                await s.code.prs().open(repos, title="Rename", summary="s")

    asyncio.run(main())
