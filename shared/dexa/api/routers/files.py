"""The session's workspace for rich clients (editors, the web UI): list a directory, read a text file, search text,
find symbols. Paths are relative to the session's working directory and never leave it (dexa.api.workspace_files)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from dexa.api import workspace_files as files
from dexa.api import workspace_search as search
from dexa.api.deps import ApiContext, Ctx, Reader, problems
from dexa.api.schemas.files import (
    FileContentPublic,
    FileEntryPublic,
    FilesPublic,
    SearchMatchPublic,
    SearchPublic,
    SymbolPublic,
    SymbolsPublic,
)
from dexa.auth.models import Principal
from dexa.core.environment import SessionEnv
from dexa.core.session import Session

router = APIRouter(prefix="/sessions", tags=["files"])

PathQuery = Annotated[
    str | None,
    Query(max_length=4096, description="Relative to the session's working directory (default: the directory itself)"),
]


def _on_host(ctx: ApiContext) -> bool:
    """The workspace's files are on this server's disk (not in a remote sandbox)."""
    return ctx.paths.remote_root is None


async def _session_env(ctx: ApiContext, who: Principal, session_id: str) -> tuple[Session, SessionEnv]:
    session = await ctx.session(who, session_id)
    return session, await ctx.call(ctx.runtime.engine.envs.env_for, session)


@router.get("/{session_id}/files", response_model=FilesPublic, responses=problems(404))
async def list_files(
    session_id: str,
    ctx: Ctx,
    who: Reader,
    path: PathQuery = None,
    ignored: Annotated[bool, Query(description="Also list what .gitignore excludes (marked ignored)")] = False,
) -> FilesPublic:
    """One directory's entries, directories first; .gitignore'd entries and `.git` are left out unless ignored=true.
    403 `outside_workspace` for a path (or a symlink) leading out of the session's working directory."""
    session = await ctx.session(who, session_id)
    ws = None if _on_host(ctx) else (await ctx.call(ctx.runtime.engine.envs.env_for, session)).workspace
    directory, entries, truncated = await files.list_dir(ws, session.cwd, path, include_ignored=ignored)
    rows = [FileEntryPublic(name=e.name, path=e.path, type=e.type, size=e.size, ignored=e.ignored) for e in entries]
    return FilesPublic(path=files.relative(session.cwd, directory), data=rows, count=len(rows), truncated=truncated)


@router.get("/{session_id}/files/content", response_model=FileContentPublic, responses=problems(404))
async def read_file(
    session_id: str,
    ctx: Ctx,
    who: Reader,
    path: Annotated[str, Query(min_length=1, max_length=4096, description="The file, relative to the cwd")],
    max_bytes: Annotated[int, Query(ge=1, le=files.MAX_READ_BYTES)] = files.DEFAULT_READ_BYTES,
) -> FileContentPublic:
    """A UTF-8 text file. 400 `binary_file` for binary content, `file_too_large` past max_bytes (default 1 MiB),
    `is_a_directory`, `not_a_file` (FIFO, socket, device); 403 `outside_workspace`."""
    session = await ctx.session(who, session_id)
    ws = None if _on_host(ctx) else (await ctx.call(ctx.runtime.engine.envs.env_for, session)).workspace
    found = await files.read_text(ws, session.cwd, path, max_bytes=max_bytes)
    return FileContentPublic(path=found.path, content=found.content, size=found.size)


@router.get("/{session_id}/files/search", response_model=SearchPublic, responses=problems(404))
async def search_files(
    session_id: str,
    ctx: Ctx,
    who: Reader,
    pattern: Annotated[str, Query(min_length=1, max_length=1000, description="A regular expression (ripgrep's)")],
    path: PathQuery = None,
    glob: Annotated[str | None, Query(max_length=500, description="Only files matching, e.g. *.py")] = None,
    ignore_case: bool = False,
    limit: Annotated[int, Query(ge=1, le=2000)] = 200,
) -> SearchPublic:
    """Matching lines, with the Grep tool's engine (ripgrep inside the workspace when present); .gitignore honoured.
    400 `search_error` names a bad pattern or glob."""
    session, env = await _session_env(ctx, who, session_id)
    root = files.check_inside(session.cwd, path) if _on_host(ctx) else files.confine(session.cwd, path)
    matches, truncated, engine = await ctx.call(
        search.search_text,
        env.workspace,
        env.services,
        ctx.runtime.store,
        session,
        root=root,
        pattern=pattern,
        glob=glob,
        ignore_case=ignore_case,
        limit=limit,
    )
    rows = [SearchMatchPublic(path=m.path, line=m.line, text=m.text) for m in matches]
    return SearchPublic(
        data=rows, count=len(rows), truncated=truncated, engine="ripgrep" if engine == "ripgrep" else "python"
    )


@router.get("/{session_id}/files/symbols", response_model=SymbolsPublic, responses=problems(404))
async def find_symbols(
    session_id: str,
    ctx: Ctx,
    who: Reader,
    query: Annotated[str, Query(max_length=200, description="Part of the name, any case ('' lists all)")] = "",
    path: PathQuery = None,
    engine: Annotated[
        Literal["auto", "ctags", "regex"], Query(description="auto: ctags when the workspace has it, else regex")
    ] = "auto",
    limit: Annotated[int, Query(ge=1, le=2000)] = 200,
) -> SymbolsPublic:
    """Functions, classes, types... whose name contains `query`, exact and prefix matches first. The answer names
    its engine: Universal Ctags inside the workspace, or the regex finder (Python, JavaScript/TypeScript, Go)."""
    session, env = await _session_env(ctx, who, session_id)
    on_host = _on_host(ctx)
    root = files.check_inside(session.cwd, path) if on_host else files.confine(session.cwd, path)
    found, truncated, used = await ctx.call(
        search.find_symbols,
        env.workspace,
        env.services,
        cwd=session.cwd,
        root=root,
        query=query,
        limit=limit,
        engine=engine,
        on_host=on_host,
    )
    rows = [SymbolPublic(name=s.name, kind=s.kind, path=s.path, line=s.line, scope=s.scope) for s in found]
    return SymbolsPublic(data=rows, count=len(rows), truncated=truncated, engine=used)
