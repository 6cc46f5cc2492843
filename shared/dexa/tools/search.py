"""Glob and Grep over the Workspace port (walk + read), with ripgrep's output conventions."""

from __future__ import annotations

import bisect
import os
import re
import time
from dataclasses import dataclass
from typing import Any

from dexa.core.errors import ConfigError, SandboxError, ToolError
from dexa.core.ports import ToolSpec, Workspace
from dexa.core.tools import ToolContext, ToolOutput

from . import fileio, globbing, ripgrep
from .validate import BaseTool, RerunOnRecover

GLOB_LIMIT = 100
GREP_HEAD_LIMIT = 250
MAX_COLUMNS = 500
MAX_GREP_FILE_BYTES = 10 << 20
MAX_GITIGNORE_BYTES = 1 << 20


def _relative(path: str, base: str) -> str:
    return os.path.relpath(path, base)


def _search_root(ctx: ToolContext, path: Any) -> str:
    if path in (None, "", "undefined", "null"):
        return ctx.cwd
    if "\x00" in path:
        raise ToolError(f"`path` is not a valid path: {path!r} contains a NUL byte")
    return os.path.normpath(path if os.path.isabs(path) else os.path.join(ctx.cwd, path))


async def _mtime(ws: fileio.StatWorkspace, path: str) -> float:
    try:
        return await ws.mtime(path)
    except (OSError, SandboxError):
        return 0.0  # deleted or swapped since the walk: it still sorts, last


async def _by_mtime(ws: Workspace, paths: list[str]) -> list[str]:
    """Most recently modified first; path order breaks ties and stands in when mtimes are unavailable."""
    if not isinstance(ws, fileio.StatWorkspace):
        return sorted(paths)
    stamped = [(-(await _mtime(ws, p)), p) for p in paths]
    return [p for _, p in sorted(stamped)]


async def _read_or_skip(ws: Workspace, path: str, limit: int) -> bytes | None:
    """A walked file's bytes, or None when it is too large or cannot be read now (ripgrep skips those too)."""
    try:
        return await fileio.read_capped(ws, path, limit)
    except (ToolError, SandboxError, OSError):
        return None


class Glob(RerunOnRecover, BaseTool):
    read_only = True
    spec = ToolSpec(
        name="Glob",
        description=(
            "Fast file pattern matching. Supports glob patterns like `**/*.js` or `src/**/*.{ts,tsx}` (`*` stays "
            "within one directory, `**` crosses directories). Returns matching absolute file paths, most recently "
            "modified first, at most 100. path is the directory to search (default: the current working directory)."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "pattern": {"type": "string", "description": "The glob pattern to match files against"},
                "path": {"type": "string", "description": "The directory to search in (omit for the current one)"},
            },
            "required": ["pattern"],
        },
    )

    async def call(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        started = time.monotonic()
        pattern: str = tool_input["pattern"]
        base = _search_root(ctx, tool_input.get("path"))
        if pattern.startswith("/"):
            base, pattern = globbing.split_absolute(pattern)
        pattern = pattern.removeprefix("./") or "*"
        ws = ctx.workspace
        if not await ws.is_dir(base):
            raise ToolError(f"Directory does not exist: {base}")
        rx = _compile_glob(pattern)
        matches = []
        for path in await ws.walk(base):
            rel = _relative(path, base)
            if not globbing.in_git_dir(rel) and rx.match(rel):
                matches.append(path)
        ordered = await _by_mtime(ws, matches)
        truncated = len(ordered) > GLOB_LIMIT
        shown = ordered[:GLOB_LIMIT]
        content = "\n".join(shown) if shown else "No files found"
        if truncated:
            content += "\n(Results are truncated. Consider using a more specific path or pattern.)"
        return ToolOutput(
            content=content,
            data={
                "filenames": shown,
                "numFiles": len(shown),
                "truncated": truncated,
                "durationMs": int((time.monotonic() - started) * 1000),
            },
        )


def _compile_glob(pattern: str) -> globbing.GlobMatcher:
    try:
        return globbing.compile_glob(pattern)
    except ConfigError as exc:
        raise ToolError(str(exc)) from exc


@dataclass(frozen=True, slots=True, kw_only=True)
class _GrepQuery:
    rx: re.Pattern[str]
    mode: str
    before: int
    after: int
    numbers: bool
    only_matching: bool
    multiline: bool


def _match_lines(text: str, q: _GrepQuery) -> tuple[list[str], dict[int, list[str]]]:
    """The file's lines and, per matching line index, the matched texts."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    hits: dict[int, list[str]] = {}
    if q.multiline:
        starts = [0]
        for line in lines:
            starts.append(starts[-1] + len(line) + 1)
        for m in q.rx.finditer(text):
            first = bisect.bisect_right(starts, m.start()) - 1
            last = bisect.bisect_right(starts, max(m.start(), m.end() - 1)) - 1
            for i in range(first, min(last, len(lines) - 1) + 1):
                hits.setdefault(i, []).append(m.group(0) if i == first else "")
        return lines, hits
    for i, line in enumerate(lines):
        found = [m.group(0) for m in q.rx.finditer(line)] if q.only_matching else ([""] if q.rx.search(line) else [])
        if found:
            hits[i] = found
    return lines, hits


def _content_lines(prefix: str, lines: list[str], hits: dict[int, list[str]], q: _GrepQuery) -> list[str]:
    out: list[str] = []
    last_printed = -2
    for i in sorted(hits):
        if q.only_matching:
            out += [f"{prefix}{i + 1}:{m}" if q.numbers else f"{prefix}{m}" for m in hits[i] if m]
            continue
        for j in range(max(0, i - q.before), min(len(lines), i + q.after + 1)):
            if j <= last_printed:
                continue
            if (q.before or q.after) and last_printed >= 0 and j > last_printed + 1:
                out.append("--")
            sep = ":" if j in hits else "-"
            line = lines[j] if len(lines[j]) <= MAX_COLUMNS else lines[j][:MAX_COLUMNS] + " [... omitted long line]"
            lead = prefix[:-1] + sep if prefix else ""  # ripgrep: `path:7:match`, `path-6-context`
            out.append(f"{lead}{j + 1}{sep}{line}" if q.numbers else f"{lead}{line}")
            last_printed = j
    return out


class Grep(RerunOnRecover, BaseTool):
    read_only = True
    spec = ToolSpec(
        name="Grep",
        description=(
            "Searches file contents with a regular expression (ripgrep syntax, e.g. `log.*Error`, `def \\w+`; "
            "escape literal braces). Filter files with glob (e.g. `*.py`, `**/*.{ts,tsx}`) or type (py, js, ts, go, "
            "rust, java...). output_mode: files_with_matches (default, file paths), content (matching lines; "
            "supports -A/-B/-C context, -n line numbers, default on), count (matches per file). -i ignores case; "
            "multiline lets `.` and patterns span lines. head_limit caps the output (default 250, 0 = no limit) "
            "and offset skips the first entries. Honours .gitignore; skips binary files. Use this instead of grep "
            "or rg in Bash."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "pattern": {"type": "string", "description": "The regular expression to search for"},
                "path": {"type": "string", "description": "File or directory to search (default: current directory)"},
                "glob": {"type": "string", "description": 'Glob to filter files, e.g. "*.js" or "*.{ts,tsx}"'},
                "type": {"type": "string", "description": "File type to search, e.g. py, js, rust"},
                "output_mode": {
                    "type": "string",
                    "enum": ["content", "files_with_matches", "count"],
                    "description": "What to return (default files_with_matches)",
                },
                "-A": {"type": "number", "description": "Lines to show after each match (content mode)"},
                "-B": {"type": "number", "description": "Lines to show before each match (content mode)"},
                "-C": {"type": "number", "description": "Lines to show before and after each match (content mode)"},
                "context": {"type": "number", "description": "Same as -C"},
                "-n": {"type": "boolean", "description": "Show line numbers (content mode, default true)"},
                "-i": {"type": "boolean", "description": "Case insensitive search"},
                "-o": {"type": "boolean", "description": "Print only the matched parts (content mode)"},
                "head_limit": {"type": "number", "description": "Limit output to the first N entries (0 = all)"},
                "offset": {"type": "number", "description": "Skip the first N entries"},
                "multiline": {"type": "boolean", "description": "Patterns may span lines; `.` matches newlines"},
            },
            "required": ["pattern"],
        },
    )

    def _query(self, tool_input: dict[str, Any]) -> _GrepQuery:
        flags = re.IGNORECASE if tool_input.get("-i") else 0
        multiline = bool(tool_input.get("multiline"))
        if multiline:
            flags |= re.DOTALL | re.MULTILINE
        try:
            rx = re.compile(tool_input["pattern"], flags)
        except re.error as exc:
            raise ToolError(f"Invalid regular expression {tool_input['pattern']!r}: {exc}") from exc
        around = int(tool_input.get("-C", tool_input.get("context", 0)) or 0)
        return _GrepQuery(
            rx=rx,
            mode=tool_input.get("output_mode", "files_with_matches"),
            before=max(0, int(tool_input.get("-B", around) or 0)),
            after=max(0, int(tool_input.get("-A", around) or 0)),
            numbers=bool(tool_input.get("-n", True)),
            only_matching=bool(tool_input.get("-o")),
            multiline=multiline,
        )

    async def _candidates(self, ws: Workspace, root: str, tool_input: dict[str, Any]) -> tuple[list[str], bool]:
        if not await ws.exists(root):
            raise ToolError(f"Path does not exist: {root}")
        if not await ws.is_dir(root):
            return [root], True
        files = await ws.walk(root)
        ignores = [(p, await _read_or_skip(ws, p, MAX_GITIGNORE_BYTES)) for p in files if p.endswith("/.gitignore")]
        rules = globbing.IgnoreRules.parse([(p, data.decode(errors="replace")) for p, data in ignores if data])
        globs = [g for g in re.split(r"[\s]+", tool_input.get("glob") or "") if g]
        include = [_compile_glob(g) for g in globs if not g.startswith("!")]
        exclude = [_compile_glob(g[1:]) for g in globs if g.startswith("!")]
        kind = tool_input.get("type")
        if kind and kind not in globbing.FILE_TYPES:
            raise ToolError(f"Unknown file type {kind!r}; known types: {', '.join(sorted(globbing.FILE_TYPES))}")
        exts = globbing.FILE_TYPES.get(kind or "", ())
        chosen = []
        for path in files:
            rel = _relative(path, root)
            if globbing.in_git_dir(rel) or rules.ignored(path):
                continue
            subject = [rel, os.path.basename(rel)]
            if include and not any(rx.match(s) for rx in include for s in subject):
                continue
            if any(rx.match(s) for rx in exclude for s in subject):
                continue
            if exts and not path.endswith(exts):
                continue
            chosen.append(path)
        return sorted(chosen), False

    async def call(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        ws = ctx.workspace
        root = _search_root(ctx, tool_input.get("path"))
        # A tree goes to rg; one named file stays here, where FIFOs, sockets and huge files get their own answers.
        if await ws.is_dir(root) and await ripgrep.available(ws, ctx.services, ctx.cwd):
            return await self._call_rg(tool_input, ctx, root)
        q = self._query(tool_input)
        files, single = await self._candidates(ws, root, tool_input)
        matched: list[str] = []
        counts: dict[str, int] = {}
        lines_out: list[str] = []
        for path in files:
            if single:  # the one file asked for: its errors are the answer
                data: bytes | None = await fileio.read_capped(ws, path, MAX_GREP_FILE_BYTES)
            else:
                data = await _read_or_skip(ws, path, MAX_GREP_FILE_BYTES)
            if data is None or b"\x00" in data[:8192]:
                continue
            lines, hits = _match_lines(data.decode("utf-8", errors="replace"), q)
            if not hits:
                continue
            matched.append(path)
            counts[path] = sum(len(v) for v in hits.values()) if q.multiline else len(hits)
            if q.mode == "content":
                if lines_out and (q.before or q.after):
                    lines_out.append("--")
                lines_out += _content_lines("" if single else f"{path}:", lines, hits, q)
        return self._render(tool_input, q, matched, counts, lines_out, await _by_mtime(ws, matched))

    async def _call_rg(self, tool_input: dict[str, Any], ctx: ToolContext, root: str) -> ToolOutput:
        mode = tool_input.get("output_mode", "files_with_matches")
        if mode not in ("content", "files_with_matches", "count"):
            raise ToolError(f"`output_mode` must be content, files_with_matches or count, got {mode!r}")
        limit = int(tool_input.get("head_limit", GREP_HEAD_LIMIT) or 0)
        skip = max(0, int(tool_input.get("offset", 0) or 0))
        found = await ripgrep.search(ctx.workspace, tool_input, root, ctx.cwd, skip, limit)
        shown, total = found.lines, found.total
        data: dict[str, Any] = {"mode": mode, "numFiles": total if mode != "content" else 0, "engine": "ripgrep"}
        if mode == "content":
            content = "\n".join(shown) if shown else "No matches found"
            data.update(numLines=len(shown), content=content)
        elif mode == "count":
            content = "\n".join(shown) if shown else "No matches found"
            if shown:
                content += f"\n\nFound {found.matches} total {'occurrence' if found.matches == 1 else 'occurrences'} "
                content += f"across {total} {'file' if total == 1 else 'files'}."
            data.update(numMatches=found.matches)
        else:
            listed = "\n".join(shown)
            content = f"Found {total} file{'' if total == 1 else 's'}\n{listed}" if total else "No files found"
            data.update(filenames=shown)
        if limit > 0 and total > skip + limit:
            content += f"\n\n(Results are limited to {limit} entries; use offset or a narrower pattern for more.)"
        return ToolOutput(content=content, data=data)

    def _render(
        self,
        tool_input: dict[str, Any],
        q: _GrepQuery,
        matched: list[str],
        counts: dict[str, int],
        lines_out: list[str],
        by_mtime: list[str],
    ) -> ToolOutput:
        limit = int(tool_input.get("head_limit", GREP_HEAD_LIMIT) or 0)
        skip = max(0, int(tool_input.get("offset", 0) or 0))

        def page(items: list[str]) -> tuple[list[str], bool]:
            rest = items[skip:]
            return (rest[:limit], len(rest) > limit) if limit > 0 else (rest, False)

        data: dict[str, Any] = {"mode": q.mode, "numFiles": len(matched)}
        if q.mode == "content":
            shown, cut = page(lines_out)
            content = "\n".join(shown) if shown else "No matches found"
            data.update(numLines=len(shown), content=content)
        elif q.mode == "count":
            shown, cut = page([f"{p}:{counts[p]}" for p in matched])
            total = sum(counts.values())
            content = "\n".join(shown) if shown else "No matches found"
            if shown:
                content += f"\n\nFound {total} total {'occurrence' if total == 1 else 'occurrences'} across "
                content += f"{len(matched)} {'file' if len(matched) == 1 else 'files'}."
            data.update(numMatches=total)
        else:
            shown, cut = page(by_mtime)
            content = f"Found {len(matched)} file{'' if len(matched) == 1 else 's'}\n" + "\n".join(shown)
            content = content if matched else "No files found"
            data.update(filenames=shown)
        if cut:
            content += f"\n\n(Results are limited to {limit} entries; use offset or a narrower pattern for more.)"
        return ToolOutput(content=content, data=data)
