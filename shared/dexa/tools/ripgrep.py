"""Grep's engine when the workspace has ripgrep: one sandboxed command does the walk, the match, the ordering and the
paging, so a 40k-file tree costs what `rg` costs plus one sandbox launch.

The command runs inside the workspace (never on the control plane), so a hostile tree is searched where it can do no
harm. Output conventions are ripgrep's own, which are also Claude Code's (its Grep tool runs rg).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from dexa.core.errors import ToolError
from dexa.core.ports import Workspace

from . import probe

MAX_COLUMNS = 500
TIMEOUT_S = 120.0
_TOTAL = "__dexa_total:"


@dataclass(frozen=True, slots=True)
class RgResult:
    lines: list[str]  # the page asked for
    total: int  # entries before paging
    matches: int = 0  # count mode: the sum of the per-file counts


async def available(ws: Workspace, services: dict[str, Any], cwd: str) -> bool:
    """Is `rg` on the workspace's PATH? Probed once per session environment."""
    return await probe.has(ws, services, cwd, key="ripgrep", test="command -v rg >/dev/null")


def _flags(tool_input: dict[str, Any], mode: str) -> list[str]:
    # Claude Code's own rg flags: hidden files searched, .git skipped, ignore files as rg applies them. No size cap:
    # --max-filesize costs a stat per file (~25% on a 40k-file tree) and rg streams big files anyway.
    flags = ["--hidden", "--glob", "!.git", "--no-config"]
    flags += ["--color", "never", "--no-messages"]
    if tool_input.get("-i"):
        flags.append("-i")
    multiline = bool(tool_input.get("multiline"))
    if multiline:
        flags += ["-U", "--multiline-dotall"]
    for glob in (tool_input.get("glob") or "").split():
        flags += ["--glob", glob]
    if tool_input.get("type"):
        flags += ["--type", str(tool_input["type"])]
    if mode == "files_with_matches":
        flags.append("--files-with-matches")
    elif mode == "count":
        flags += ["--count-matches" if multiline else "--count", "--with-filename", "--sort", "path"]
    else:
        flags += ["--sort", "path", "--max-columns", str(MAX_COLUMNS), "--max-columns-preview"]
        if tool_input.get("-n", True):
            flags.append("--line-number")
        if tool_input.get("-o"):
            flags.append("--only-matching")
        around = tool_input.get("-C", tool_input.get("context"))
        for flag, value in (("-A", tool_input.get("-A", around)), ("-B", tool_input.get("-B", around))):
            if value:
                flags += [flag, str(max(0, int(value)))]
    return flags


def command(tool_input: dict[str, Any], root: str, mode: str, skip: int, limit: int) -> str:
    rg = shlex.join(["rg", *_flags(tool_input, mode), "-e", str(tool_input["pattern"]), "--", root])
    if mode == "files_with_matches":
        # Most recently modified first (Claude Code's order), path order breaking ties.
        ordered = f"{rg} | xargs -d '\\n' -r stat --printf '%.9Y\\t%n\\n' | sort -t \"$(printf '\\t')\" -k1,1gr -k2,2"
        ordered += " | cut -f2-"
    else:
        ordered = rg
    count_sum = ' n=split($0, f, ":"); m += f[n];' if mode == "count" else ""
    page = (
        f"awk -v skip={skip} -v limit={limit} '{{{count_sum} if (NR > skip && (limit == 0 || NR <= skip + limit)) "
        f'print }} END {{ print "{_TOTAL}" NR ":" m+0 }}\''
    )
    # rg's own status decides: 0 found, 1 nothing, 2 an error (a bad pattern or type) worth reporting.
    return f"{ordered} | {page}; exit ${{PIPESTATUS[0]}}"


def _explain(stderr: str, tool_input: dict[str, Any], status: int) -> str:
    text = stderr.strip()
    if text.startswith("regex parse error"):
        return f"Invalid regular expression {tool_input['pattern']!r} (ripgrep syntax): {text.splitlines()[-1]}\n{text}"
    if text.startswith("unrecognized file type"):
        return f"Unknown file type {tool_input.get('type')!r}; `rg --type-list` inside the workspace lists them"
    return f"Grep failed: {text.splitlines()[-1] if text else f'rg exited with status {status}'}"


async def search(ws: Workspace, tool_input: dict[str, Any], root: str, cwd: str, skip: int, limit: int) -> RgResult:
    mode = tool_input.get("output_mode", "files_with_matches")
    result = await ws.exec(command(tool_input, root, mode, skip, limit), cwd=cwd, timeout_s=TIMEOUT_S)
    if result.exit_code not in (0, 1) and (result.stderr.strip() or not result.stdout):
        raise ToolError(_explain(result.stderr, tool_input, result.exit_code))  # 2 and silent: unreadable files only
    lines = result.stdout.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    total = matches = 0
    if lines and lines[-1].startswith(_TOTAL):
        total_text, _, matches_text = lines.pop()[len(_TOTAL) :].partition(":")
        total, matches = int(total_text or 0), int(matches_text or 0)
    return RgResult(lines=lines, total=total, matches=matches)
