"""After clone, commit and push, the workspace holds no credential: not in its env, its files, or .git/config."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gitproxy_harness import SESSION_A, git_stack

from dexa.code.tokens import PREFIX


def test_no_token_appears_in_the_workspace_env_files_or_git_config(tmp_path: Path) -> None:
    async def main() -> None:
        async with git_stack(tmp_path) as stack:
            ws = stack.workspace("a")
            repos = stack.repo_set(SESSION_A, ws)
            api = await repos.add("acme/api")
            web = await repos.add("acme/web")
            for entry in (api, web):
                (Path(entry.path) / "CHANGE.md").write_text("changed\n")
                await repos.push(entry.repo, message="change")
            assert len(stack.fake.pushes) == 2

            forbidden = [stack.upstream_token, PREFIX + ".", "x-access-token", "Authorization", "extraHeader"]
            env = await ws.exec("env", cwd=ws.root)
            assert env.exit_code == 0 and "PATH=" in env.stdout
            for needle in forbidden:
                assert needle not in env.stdout, needle
            _scan_files(Path(ws.root), forbidden)
            config = (Path(api.path) / ".git" / "config").read_text()
            assert stack.url(SESSION_A, "acme/api") in config and "@" not in config.split("url =")[1].split()[0]

    asyncio.run(main())


def _scan_files(root: Path, forbidden: list[str]) -> None:
    files = [p for p in root.rglob("*") if p.is_file()]
    assert any(p.name == "config" and p.parent.name == ".git" for p in files)
    for path in files:
        data = path.read_bytes()
        for needle in forbidden:
            assert needle.encode() not in data, (path, needle)
