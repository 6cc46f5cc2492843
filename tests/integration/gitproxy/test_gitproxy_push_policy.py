"""The git proxy with real git on both sides: allowed clone and push, and every push it must refuse."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from gitproxy_harness import ORG, SESSION_A, SESSION_B, Stack, git_stack

from dexa.adapters.git import run_git
from dexa.code.naming import branch_prefix
from dexa.code.state import RepoEntry
from dexa.gitproxy.pktline import FLUSH, ZERO_OID, encode


async def _session_a_with_commit(stack: Stack) -> tuple[RepoEntry, Path]:
    """Session A clones acme/api through the proxy, commits in its sandbox and pushes its branch."""
    ws = stack.workspace("a")
    repos = stack.repo_set(SESSION_A, ws)
    entry = await repos.add("acme/api")
    path = Path(entry.path)
    (path / "api" / "contract.py").write_text("FIELDS = ['id', 'full_name']\n")
    result = await ws.exec("git commit -qam 'rename name to full_name'", cwd=entry.path)
    assert result.exit_code == 0, result.stderr
    entry = await repos.push("acme/api")
    return entry, path


def test_session_clones_and_pushes_its_own_branch_with_the_injected_installation_token(tmp_path: Path) -> None:
    async def main() -> None:
        async with git_stack(tmp_path) as stack:
            entry, path = await _session_a_with_commit(stack)
            assert entry.branch.startswith("dexa/aaaa1111-") and entry.base == "main"
            _code, head = await stack.git(path, "rev-parse", "HEAD")
            assert stack.upstream_sha("acme/api", entry.branch) == head.strip()
            assert stack.fake.file_at("acme/api", entry.branch, "api/contract.py") == "FIELDS = ['id', 'full_name']\n"
            # The git host saw the installation token, which only the proxy holds.
            assert stack.fake.pushes == [{"repo": "acme/api", "token": stack.upstream_token}]
            _code, remote = await stack.git(path, "remote", "get-url", "origin")
            assert remote.strip() == stack.url(SESSION_A, "acme/api")

    asyncio.run(main())


def test_push_to_main_another_sessions_branch_and_a_tag_are_refused(tmp_path: Path) -> None:
    async def main() -> None:
        async with git_stack(tmp_path) as stack:
            _, path = await _session_a_with_commit(stack)
            main_before = stack.upstream_sha("acme/api", "main")
            url, env = stack.url(SESSION_A, "acme/api"), stack.env(SESSION_A)
            other = f"refs/heads/{branch_prefix(SESSION_B)}contract"
            for target in ("refs/heads/main", other, "refs/heads/feature", "refs/tags/v1"):
                code, out = await stack.git(path, "push", url, f"HEAD:{target}", env=env)
                assert code != 0, target
                assert "may only push to its own branches" in out, out
            assert stack.upstream_sha("acme/api", "main") == main_before
            assert stack.upstream_sha("acme/api", other.removeprefix("refs/heads/")) is None
            assert len(stack.fake.pushes) == 1  # only the session's own push ever reached the git host

    asyncio.run(main())


def test_force_push_and_branch_deletion_are_refused(tmp_path: Path) -> None:
    async def main() -> None:
        async with git_stack(tmp_path) as stack:
            entry, path = await _session_a_with_commit(stack)
            pushed = stack.upstream_sha("acme/api", entry.branch)
            url, env = stack.url(SESSION_A, "acme/api"), stack.env(SESSION_A)
            code, _ = await stack.git(path, "commit", "-q", "--amend", "-m", "rewritten history")
            assert code == 0
            code, out = await stack.git(path, "push", "--force", url, f"HEAD:refs/heads/{entry.branch}", env=env)
            assert code != 0 and "non-fast-forward" in out, out
            code, out = await stack.git(path, "push", url, f":refs/heads/{entry.branch}", env=env)
            assert code != 0 and "deleting a branch" in out, out
            assert stack.upstream_sha("acme/api", entry.branch) == pushed
            # A normal fast-forward on the same branch still goes through.
            (path / "NOTES.md").write_text("more\n")
            await stack.git(path, "reset", "-q", "--hard", pushed or "")
            (path / "NOTES.md").write_text("more\n")
            await stack.git(path, "add", "NOTES.md")
            await stack.git(path, "commit", "-qm", "follow-up")
            code, out = await stack.git(path, "push", url, f"HEAD:refs/heads/{entry.branch}", env=env)
            assert code == 0, out
            assert stack.upstream_sha("acme/api", entry.branch) != pushed

    asyncio.run(main())


def test_a_raw_create_of_an_existing_branch_is_refused_by_the_git_host(tmp_path: Path) -> None:
    async def main() -> None:
        async with git_stack(tmp_path) as stack:
            entry, path = await _session_a_with_commit(stack)
            pushed = stack.upstream_sha("acme/api", entry.branch)
            # Unrelated history on top of main, offered as a "create" (old = zeros) so no ancestry check runs.
            await stack.git(path, "checkout", "-q", "-b", "other", "origin/main")
            (path / "OTHER.md").write_text("unrelated\n")
            await stack.git(path, "add", "OTHER.md")
            await stack.git(path, "commit", "-qm", "unrelated")
            _, head = await stack.git(path, "rev-parse", "HEAD")
            _, base = await stack.git(path, "rev-parse", "origin/main")
            code, pack, _ = await run_git(
                ["pack-objects", "--stdout", "--revs", "-q"],
                cwd=str(path),
                stdin=f"{head.strip()}\n^{base.strip()}\n".encode(),
            )
            assert code == 0 and pack.startswith(b"PACK")
            body = encode(f"{ZERO_OID} {head.strip()} refs/heads/{entry.branch}\0report-status\n") + FLUSH + pack
            token = stack.tokens.mint(session_id=SESSION_A, org_id=ORG)
            async with httpx.AsyncClient() as client:
                resp = await client.post(
                    f"{stack.url(SESSION_A, 'acme/api')}/git-receive-pack",
                    content=body,
                    auth=("dexa", token),
                    headers={"Content-Type": "application/x-git-receive-pack-request"},
                )
            # git's own receive-pack (upstream) refused it, not the proxy.
            assert resp.status_code == 200
            assert f"ng refs/heads/{entry.branch} failed to update ref".encode() in resp.content
            assert stack.upstream_sha("acme/api", entry.branch) == pushed

    asyncio.run(main())


def test_repos_not_attached_and_tokens_of_other_sessions_are_refused(tmp_path: Path) -> None:
    async def main() -> None:
        async with git_stack(tmp_path) as stack:
            await stack.repo_set(SESSION_A, stack.workspace("a")).add("acme/api")
            await stack.repo_set(SESSION_B, stack.workspace("b")).add("acme/secret")
            out_dir = tmp_path / "clones"
            # Session A cannot clone session B's repo, nor a repo nobody attached.
            for repo in ("acme/secret", "acme/web"):
                code, out = await stack.git(
                    tmp_path, "clone", stack.url(SESSION_A, repo), str(out_dir / repo), env=stack.env(SESSION_A)
                )
                assert code != 0 and "403" in out, out
            # Session B's token does not open session A's URL, even for a repo both could name.
            code, out = await stack.git(
                tmp_path, "clone", stack.url(SESSION_A, "acme/api"), str(out_dir / "x"), env=stack.env(SESSION_B)
            )
            assert code != 0 and "another session" in out, out
            # No credential at all: a challenge, and git cannot answer it (prompts are off).
            code, out = await stack.git(tmp_path, "clone", stack.url(SESSION_A, "acme/api"), str(out_dir / "y"))
            assert code != 0
            forged = stack.tokens.mint(session_id=SESSION_A, org_id=ORG)[:-4] + "AAAA"
            code, out = await stack.git(
                tmp_path,
                "clone",
                stack.url(SESSION_A, "acme/api"),
                str(out_dir / "z"),
                env=stack.env(SESSION_A, token=forged),
            )
            assert code != 0 and "signature" in out, out

    asyncio.run(main())


def test_expired_session_token_is_refused(tmp_path: Path) -> None:
    async def main() -> None:
        clock = [1_000_000.0]
        async with git_stack(tmp_path, clock=clock) as stack:
            await stack.repo_set(SESSION_A, stack.workspace("a")).add("acme/api")
            token = stack.tokens.mint(session_id=SESSION_A, org_id=ORG)
            clock[0] += 601
            code, out = await stack.git(
                tmp_path, "ls-remote", stack.url(SESSION_A, "acme/api"), env=stack.env(SESSION_A, token=token)
            )
            assert code != 0 and "expired" in out, out

    asyncio.run(main())


def test_fetch_through_the_proxy_sees_the_pushed_branch(tmp_path: Path) -> None:
    async def main() -> None:
        async with git_stack(tmp_path) as stack:
            entry, _ = await _session_a_with_commit(stack)
            code, out = await stack.git(
                tmp_path, "ls-remote", stack.url(SESSION_A, "acme/api"), env=stack.env(SESSION_A)
            )
            assert code == 0, out
            assert f"refs/heads/{entry.branch}" in out and "refs/heads/main" in out

    asyncio.run(main())
