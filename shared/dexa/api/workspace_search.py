"""Searching a session's workspace for the API: text with the Grep tool's own engine, symbols with ctags or regexes.

Text search runs the Grep tool (ripgrep inside the workspace when it has rg, else the tool's Python walk), so a client
finds what the agent would. Symbols come from Universal Ctags run inside the workspace (never on the control plane:
it parses untrusted files) when the workspace has a ctags with JSON output; otherwise from a light regex finder for
Python, JavaScript/TypeScript and Go, run here over files read with no-follow access. Each answer names its engine.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import anyio

from dexa.core.errors import ConfigError, SandboxError
from dexa.core.ports import KeyValueStore, Workspace
from dexa.core.safefs import SafeFS
from dexa.core.session import Session
from dexa.core.tools import SessionState, ToolContext
from dexa.tools import globbing, probe
from dexa.tools.search import Grep

from .workspace_files import MAX_GITIGNORE_BYTES, relative

Engine = Literal["ctags", "regex"]
CTAGS_TIMEOUT_S = 60.0
MAX_SYMBOL_FILES = 5000
MAX_SYMBOL_FILE_BYTES = 1 << 20
_HIT = re.compile(r"^(.*?):(\d+):(.*)$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Match:
    path: str
    line: int
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Symbol:
    name: str
    kind: str
    path: str
    line: int
    scope: str = ""


async def _noop_emit(kind: str, data: Mapping[str, Any]) -> None:
    return None


async def search_text(
    ws: Workspace,
    services: dict[str, Any],
    kv: KeyValueStore,
    session: Session,
    *,
    root: str,
    pattern: str,
    glob: str | None,
    ignore_case: bool,
    limit: int,
) -> tuple[list[Match], bool, str]:
    """(matches, truncated, engine) for `pattern` under root (already confined to the session's cwd)."""
    ctx = ToolContext(
        session_id=session.id,
        org_id=session.org_id,
        tool_use_id="api-files-search",
        workspace=ws,
        state=SessionState(cwd=session.cwd),
        emit=_noop_emit,
        kv=kv,
        services=services,
    )
    tool_input: dict[str, Any] = {
        "pattern": pattern,
        "path": root,
        "output_mode": "content",
        "-n": True,
        "-i": ignore_case,
        "head_limit": limit + 1,
    }
    if glob:
        tool_input["glob"] = glob
    out = await Grep().run(tool_input, ctx)
    if out.is_error:
        raise ConfigError(out.content, code="search_error")
    engine = "ripgrep" if out.data.get("engine") == "ripgrep" else "python"
    matches: list[Match] = []
    single = not await ws.is_dir(root)
    for line in str(out.data.get("content") or "").split("\n"):
        if single:
            num, _, text = line.partition(":")
            found = (root, num, text) if num.isdigit() else None
        else:
            m = _HIT.match(line)
            found = (m.group(1), m.group(2), m.group(3)) if m else None
        if found is None:
            continue
        matches.append(Match(path=relative(session.cwd, found[0]), line=int(found[1]), text=found[2]))
    return matches[:limit], len(matches) > limit, engine


# ------------------------------------------------------------ symbols


async def _ctags_available(ws: Workspace, services: dict[str, Any], cwd: str) -> bool:
    test = "ctags --list-features 2>/dev/null | grep -qw json"  # Universal Ctags, built with JSON output
    return await probe.has(ws, services, cwd, key="ctags_json", test=test)


def _ctags_command(root: str, query: str, rg: bool) -> str:
    tags = ["ctags", "--output-format=json", "--fields=+nKZ", "--links=no", "-f", "-"]
    if rg:  # rg lists the files the way Grep sees them: .gitignore honoured, .git skipped
        walk = ["rg", "--hidden", "--no-require-git", "--glob", "!.git", "--no-config"]
        # With a query only files mentioning it can define it: ctags then parses a handful of files, not the tree.
        which = ["--files-with-matches", "-F", "-i", "-e", query] if query else ["--files"]
        run = f"{shlex.join([*walk, *which, '--', root])} | {shlex.join([*tags, '-L', '-'])}"
    else:
        run = shlex.join([*tags, "--exclude=.git", "--exclude=node_modules", "-R", "--", root])
    # A loose pre-filter inside the workspace keeps a large tree's output small; the exact match is done here.
    keep = f" | grep -F -i -- {shlex.quote(query)}" if query else ""
    return f"{run} 2>/dev/null{keep} | head -n 200000"


async def _ctags(ws: Workspace, services: dict[str, Any], cwd: str, root: str, query: str) -> list[Symbol]:
    from dexa.tools import ripgrep

    rg = await ripgrep.available(ws, services, cwd)
    result = await ws.exec(_ctags_command(root, query, rg), cwd=cwd, timeout_s=CTAGS_TIMEOUT_S)
    out: list[Symbol] = []
    for line in result.stdout.splitlines():
        try:
            tag = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(tag, dict) or tag.get("_type") != "tag" or not isinstance(tag.get("name"), str):
            continue
        path = str(tag.get("path") or "")
        full = path if path.startswith("/") else os.path.join(cwd, path)
        out.append(
            Symbol(
                name=tag["name"],
                kind=str(tag.get("kind") or ""),
                path=relative(cwd, full),
                line=int(tag.get("line") or 0),
                scope=str(tag.get("scope") or ""),
            )
        )
    return out


_PY = (re.compile(r"^\s*(?:async\s+)?(def|class)\s+([A-Za-z_]\w*)"),)
_JS = (
    re.compile(r"^\s*(?:export\s+)?(?:default\s+)?(?:async\s+)?(function)\*?\s+([A-Za-z_$][\w$]*)"),
    re.compile(r"^\s*(?:export\s+)?(?:default\s+)?(?:abstract\s+)?(class)\s+([A-Za-z_$][\w$]*)"),
    re.compile(r"^\s*(?:export\s+)?(?:declare\s+)?(interface|type|enum)\s+([A-Za-z_$][\w$]*)"),
    re.compile(
        r"^\s*(?:export\s+)?(const|let|var)\s+([A-Za-z_$][\w$]*)\s*=\s*(?:async\s*)?(?:\(|function|[\w$]+\s*=>)"
    ),
)
_GO = (
    re.compile(r"^(func)\s+(?:\([^)]*\)\s*)?([A-Za-z_]\w*)"),
    re.compile(r"^(type)\s+([A-Za-z_]\w*)\s+(?:struct|interface)"),
)
_KINDS = {"def": "function", "const": "function", "let": "function", "var": "function", "func": "function"}
PATTERNS: dict[str, tuple[re.Pattern[str], ...]] = {
    ".py": _PY,
    ".pyi": _PY,
    ".js": _JS,
    ".jsx": _JS,
    ".mjs": _JS,
    ".cjs": _JS,
    ".ts": _JS,
    ".tsx": _JS,
    ".mts": _JS,
    ".go": _GO,
}


def symbols_in(text: str, rel: str) -> list[Symbol]:
    patterns = PATTERNS.get(os.path.splitext(rel)[1])
    if not patterns:
        return []
    out: list[Symbol] = []
    for i, line in enumerate(text.splitlines(), start=1):
        for rx in patterns:
            m = rx.match(line)
            if m:
                out.append(Symbol(name=m.group(2), kind=_KINDS.get(m.group(1), m.group(1)), path=rel, line=i))
                break
    return out


def _regex_host(cwd: str, root: str, needle: str) -> list[Symbol]:
    fs = SafeFS((cwd,))
    try:
        files = sorted(fs.walk(root))
    except NotADirectoryError:  # one file was named
        files = [root]
    ignores: list[tuple[str, str]] = []
    for path in files:
        if path.endswith("/.gitignore"):
            try:
                ignores.append((path, fs.read(path, limit=MAX_GITIGNORE_BYTES).decode(errors="replace")))
            except (OSError, SandboxError):
                continue
    rules = globbing.IgnoreRules.parse(ignores)
    out: list[Symbol] = []
    scanned = 0
    for path in files:
        rel = relative(cwd, path)
        if os.path.splitext(path)[1] not in PATTERNS or globbing.in_git_dir(rel) or rules.ignored(path):
            continue
        scanned += 1
        if scanned > MAX_SYMBOL_FILES:
            break
        try:
            data = fs.read(path, limit=MAX_SYMBOL_FILE_BYTES)
        except (OSError, SandboxError):
            continue
        text = data.decode(errors="replace")
        if needle in text.lower():  # a file that never mentions the name cannot define it
            out += symbols_in(text, rel)
    return out


async def _regex_remote(ws: Workspace, cwd: str, root: str) -> list[Symbol]:
    out: list[Symbol] = []
    files = [p for p in sorted(await ws.walk(root)) if os.path.splitext(p)[1] in PATTERNS]
    for path in files[:MAX_SYMBOL_FILES]:
        rel = relative(cwd, path)
        if globbing.in_git_dir(rel):
            continue
        try:
            data = await ws.read_bytes(path)
        except (OSError, SandboxError):
            continue
        out += symbols_in(data[:MAX_SYMBOL_FILE_BYTES].decode(errors="replace"), rel)
    return out


async def find_symbols(
    ws: Workspace,
    services: dict[str, Any],
    *,
    cwd: str,
    root: str,
    query: str,
    limit: int,
    engine: Literal["auto", "ctags", "regex"],
    on_host: bool,
) -> tuple[list[Symbol], bool, Engine]:
    """(symbols whose name contains `query`, case-insensitively; truncated?; the engine used)."""
    used: Engine = "regex"
    if engine != "regex" and await _ctags_available(ws, services, cwd):
        found = await _ctags(ws, services, cwd, root, query)
        used = "ctags"
    elif engine == "ctags":
        raise ConfigError("this workspace has no Universal Ctags with JSON output; use engine=regex", code="no_ctags")
    elif on_host:
        found = await anyio.to_thread.run_sync(_regex_host, cwd, root, query.lower())
    else:
        found = await _regex_remote(ws, cwd, root)
    needle = query.lower()
    hits = [s for s in found if needle in s.name.lower()]
    hits.sort(key=lambda s: (s.name.lower() != needle, not s.name.lower().startswith(needle), s.path, s.line))
    return hits[:limit], len(hits) > limit, used
