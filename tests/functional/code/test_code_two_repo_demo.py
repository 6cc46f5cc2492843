"""The offline two-repo demo: an agent changes an API contract and its client types, runs both suites in the
sandbox, and opens two linked PRs through the git proxy against FakeGitHub."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from dexa.adapters.sqlite import SqliteStore
from dexa.checkpoints import SideEffectLedger
from dexa.code.state import load_prs, load_repos
from dexa.demo.code_demo import ORG, SESSION_ID, run_demo


def test_two_repo_demo_ends_with_two_linked_prs_and_both_suites_passing(tmp_path: Path) -> None:
    outcome = asyncio.run(run_demo(tmp_path))
    assert outcome.session.status == "idle", outcome.session.error
    assert "BOTH-SUITES-PASS" in outcome.bash_output and outcome.bash_output.count("OK") == 2
    api, web = outcome.pulls["acme/api"], outcome.pulls["acme/web"]
    assert len(api) == len(web) == 1
    for pr, other in ((api[0], web[0]), (web[0], api[0])):
        assert pr["state"] == "open" and pr["base"]["ref"] == "main"
        assert pr["head"]["ref"].startswith("dexa/demo2rep-user-full-name")
        assert other["html_url"] in pr["body"] and SESSION_ID in pr["body"]
    for pr in (api[0], web[0]):
        assert pr["html_url"] in outcome.repo_listing
    assert outcome.repo_listing.count("modified") == 2
    requests = [(r["method"], r["path"]) for r in outcome.requests]
    assert ("POST", "/repos/acme/api/pulls") in requests and ("POST", "/repos/acme/web/pulls") in requests

    store = SqliteStore(tmp_path / "dexa.sqlite")
    try:
        prs = asyncio.run(load_prs(store, SESSION_ID, ORG))
        assert prs is not None and prs.status == "open" and len(prs.prs) == 2
        repos = asyncio.run(load_repos(store, SESSION_ID, ORG))
        assert repos is not None and [r.repo for r in repos.repos] == ["acme/api", "acme/web"]
        kinds = sorted(e.kind for e in asyncio.run(SideEffectLedger(store).list(SESSION_ID)))
        assert kinds == ["branch_pushed", "branch_pushed", "pr_created", "pr_created"]
        types = [e.type for e in asyncio.run(store.read_events(SESSION_ID, limit=10_000))]
        assert types.count("code.repo_added") == 2 and "code.pull_requests" in types
    finally:
        store.close()
    bare = tmp_path / "stack" / "github" / "acme" / "api.git"
    branch = api[0]["head"]["ref"]
    assert '"id", "name", "email"' in _show(bare, "main:api/contract.py")
    assert '"id", "full_name", "email"' in _show(bare, f"{branch}:api/contract.py")


def _show(bare: Path, spec: str) -> str:
    return subprocess.run(["git", "show", spec], cwd=bare, capture_output=True, text=True, check=True).stdout
