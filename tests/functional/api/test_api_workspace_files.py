"""The session's workspace for rich clients, through the Python client over the app: list (with .gitignore),
read (text only, size-limited), search (the Grep tool's engine) and symbols (ctags inside the workspace, or regexes)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_harness import Api, make_api

from dexa.client import DexaClient
from dexa.core.errors import ConfigError, NotFoundError, PermissionDeniedError

PY = "class Greeter:\n    def hello(self):\n        return 'hi'\n\n\nasync def main():\n    pass\n"
TS = "export function render(x: number) {}\nexport const handler = async (e) => e;\nexport interface Props {}\n"
GO = "package main\n\ntype Server struct{}\n\nfunc (s *Server) Serve() {}\n\nfunc main() {}\n"


def _tree(ws: Path) -> None:
    (ws / "src").mkdir(parents=True)
    (ws / "src" / "app.py").write_text(PY)
    (ws / "src" / "web.ts").write_text(TS)
    (ws / "src" / "main.go").write_text(GO)
    (ws / ".gitignore").write_text("build/\n*.log\n")
    (ws / "build").mkdir()
    (ws / "build" / "gen.py").write_text("def generated_hello(): pass\n")
    (ws / "debug.log").write_text("hello from a log\n")
    (ws / ".git").mkdir()
    (ws / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (ws / "blob.bin").write_bytes(b"\x89PNG\x00\x00binary")
    (ws / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (ws / "big.txt").write_text("x" * 5000)


def _run(api: Api, who: str, body: Callable[[DexaClient, str], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        transport = httpx.ASGITransport(app=api.app)
        async with DexaClient("http://dexa", api.tokens[who], transport=transport) as client:
            session = await client.create_session(title="files")
            return await body(client, session.id)

    return asyncio.run(main())


@pytest.fixture
def api(tmp_path: Path) -> Api:
    api = make_api(tmp_path)
    _tree(tmp_path / "ws")
    return api


def test_listing_leaves_out_gitignored_entries_and_git_unless_asked(api: Api) -> None:
    async def body(c: DexaClient, sid: str) -> None:
        top = await c.list_files(sid)
        assert top.path == ""
        assert [(e.name, e.type) for e in top.data] == [
            ("src", "directory"),
            (".gitignore", "file"),
            ("big.txt", "file"),
            ("blob.bin", "file"),
            ("latin1.txt", "file"),
        ]
        assert next(e for e in top.data if e.name == "big.txt").size == 5000
        everything = await c.list_files(sid, ignored=True)
        ignored = {e.name for e in everything.data if e.ignored}
        assert ignored == {"build", "debug.log", ".git"}
        src = await c.list_files(sid, "src")
        assert src.path == "src" and [e.path for e in src.data] == ["src/app.py", "src/main.go", "src/web.ts"]
        with pytest.raises(NotFoundError):
            await c.list_files(sid, "nowhere")

    _run(api, "a_member", body)


def test_reading_returns_text_and_names_why_it_will_not(api: Api) -> None:
    async def body(c: DexaClient, sid: str) -> None:
        got = await c.read_file(sid, "src/app.py")
        assert (got.path, got.content, got.size) == ("src/app.py", PY, len(PY))
        assert (await c.read_file(sid, "./src/../src/web.ts")).content == TS
        for path, code in (
            ("blob.bin", "binary_file"),
            ("latin1.txt", "binary_file"),
            ("src", "is_a_directory"),
        ):
            with pytest.raises(ConfigError) as refused:
                await c.read_file(sid, path)
            assert refused.value.code == code, path
        with pytest.raises(ConfigError) as too_big:
            await c.read_file(sid, "big.txt", max_bytes=4096)
        assert too_big.value.code == "file_too_large" and "max_bytes" in str(too_big.value)
        assert (await c.read_file(sid, "big.txt", max_bytes=5000)).size == 5000
        with pytest.raises(NotFoundError):
            await c.read_file(sid, "src/missing.py")
        with pytest.raises(PermissionDeniedError) as out:
            await c.read_file(sid, "../../../../etc/passwd")
        assert out.value.code == "outside_workspace"

    _run(api, "a_member", body)


@pytest.mark.skipif(shutil.which("rg") is None, reason="ripgrep not installed")
def test_search_runs_the_grep_tools_ripgrep_engine(api: Api) -> None:
    async def body(c: DexaClient, sid: str) -> None:
        found = await c.search_files(sid, r"def \w+", path="src")
        assert found.engine == "ripgrep"
        assert [(m.path, m.line, m.text) for m in found.data] == [
            ("src/app.py", 2, "    def hello(self):"),
            ("src/app.py", 6, "async def main():"),
        ]
        loose = await c.search_files(sid, "HELLO", ignore_case=True, glob="*.py")
        assert {m.path for m in loose.data} == {"src/app.py"}  # build/ is ignored by rg only inside a git repo
        capped = await c.search_files(sid, "e", limit=2)
        assert capped.count == 2 and capped.truncated
        one = await c.search_files(sid, "return", path="src/app.py")
        assert [(m.path, m.line) for m in one.data] == [("src/app.py", 3)]
        with pytest.raises(ConfigError) as bad:
            await c.search_files(sid, "(unclosed")
        assert bad.value.code == "search_error" and "regular expression" in str(bad.value)

    _run(api, "a_member", body)


@pytest.mark.skipif(shutil.which("ctags") is None, reason="Universal Ctags not installed")
def test_symbols_come_from_ctags_inside_the_workspace_and_say_so(api: Api) -> None:
    async def body(c: DexaClient, sid: str) -> None:
        found = await c.find_symbols(sid, "hel")
        assert found.engine == "ctags"
        assert [(s.name, s.path, s.line, s.scope) for s in found.data] == [("hello", "src/app.py", 2, "Greeter")]
        everything = {s.name for s in (await c.find_symbols(sid)).data}
        assert {"Greeter", "main", "render", "Props", "Server", "Serve"} <= everything
        assert "generated_hello" not in everything  # the listing comes from rg, which honours .gitignore

    _run(api, "a_member", body)


def test_the_regex_finder_covers_python_typescript_and_go(api: Api) -> None:
    async def body(c: DexaClient, sid: str) -> None:
        found = await c.find_symbols(sid, engine="regex")
        assert found.engine == "regex"
        got = {(s.name, s.kind, s.path, s.line) for s in found.data}
        assert got == {
            ("Greeter", "class", "src/app.py", 1),
            ("hello", "function", "src/app.py", 2),
            ("main", "function", "src/app.py", 6),
            ("render", "function", "src/web.ts", 1),
            ("handler", "function", "src/web.ts", 2),
            ("Props", "interface", "src/web.ts", 3),
            ("Server", "type", "src/main.go", 3),
            ("Serve", "function", "src/main.go", 5),
            ("main", "function", "src/main.go", 7),
        }
        exact_first = await c.find_symbols(sid, "main", engine="regex")
        assert [s.name for s in exact_first.data] == ["main", "main"]
        assert (await c.find_symbols(sid, "serve", engine="regex", limit=1)).truncated

    _run(api, "a_member", body)


def test_another_orgs_key_sees_no_file_of_the_session(api: Api) -> None:
    async def main() -> None:
        transport = httpx.ASGITransport(app=api.app)
        async with (
            DexaClient("http://dexa", api.tokens["a_member"], transport=transport) as a,
            DexaClient("http://dexa", api.tokens["b_admin"], transport=transport) as b,
        ):
            sid = (await a.create_session(title="a's")).id
            for call in (
                b.list_files(sid),
                b.read_file(sid, "src/app.py"),
                b.search_files(sid, "hello"),
                b.find_symbols(sid, "hello"),
            ):
                with pytest.raises(NotFoundError):
                    await call

    asyncio.run(main())


def test_a_remote_workspace_is_read_through_its_workspace_port(api: Api) -> None:
    """A Modal session's files are not on this server: the routes go through the session's Workspace port (here the
    offline runtime's directory workspace standing in for the sandbox)."""
    from dataclasses import replace

    ctx = api.app.state.dexa

    async def body(c: DexaClient, sid: str) -> None:
        ctx.paths = replace(ctx.paths, remote_root="/workspace")
        top = await c.list_files(sid)
        assert [(e.name, e.type) for e in top.data] == [
            ("src", "directory"),
            (".gitignore", "file"),
            ("big.txt", "file"),
            ("blob.bin", "file"),
            ("latin1.txt", "file"),
        ]
        assert {e.name for e in (await c.list_files(sid, ignored=True)).data if e.ignored} == {
            "build",
            "debug.log",
            ".git",
        }
        assert [e.path for e in (await c.list_files(sid, "src")).data] == ["src/app.py", "src/main.go", "src/web.ts"]
        assert (await c.read_file(sid, "src/app.py")).content == PY
        for path, code in (("blob.bin", "binary_file"), ("big.txt", "file_too_large")):
            with pytest.raises(ConfigError) as refused:
                await c.read_file(sid, path, max_bytes=4096)
            assert refused.value.code == code
        with pytest.raises(PermissionDeniedError):
            await c.read_file(sid, "../outside.txt")
        with pytest.raises(NotFoundError):
            await c.list_files(sid, "nowhere")
        names = {s.name for s in (await c.find_symbols(sid, engine="regex")).data}
        assert {"Greeter", "render", "Serve"} <= names

    _run(api, "a_member", body)
