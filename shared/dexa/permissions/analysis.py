"""Per-tool analysis: which rules a call matches and what it touches, before the mode has its say.

Each analyzer returns `Facts`; `engine.PermissionEngine` turns Facts + mode into a decision. Keeping the two
apart makes the precedence (deny > plan > ask > safety > bypass > allow > mode) one short function.
"""

from __future__ import annotations

import os.path
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .paths import absolute_rule_path, inside_any, is_protected, link_candidates, normalize
from .rules import EDIT_FAMILY, READ_FAMILY, CompiledRule, url_host

# Tools Claude Code runs without a permission check (reference §12, "Perm: no").
NO_PERMISSION_TOOLS = frozenset(
    {
        "Task",
        "TodoWrite",
        "TaskCreate",
        "TaskGet",
        "TaskUpdate",
        "TaskList",
        "BashOutput",
        "KillShell",
        "EnterPlanMode",
        "ListMcpResourcesTool",
        "ReadMcpResourceTool",
        "ToolSearch",
        "LSP",
        "SendMessage",
        "WaitForMcpServers",
        # Dexa's lazy-loading meta tools: like ToolSearch they only reveal schemas; each source's tools still
        # go through the rules.
        "ListSources",
        "LoadSourceTools",
        "TodoRead",
    }
)
USER_INTERACTION_TOOLS = frozenset({"AskUserQuestion"})
_PATH_KEYS = {"NotebookEdit": "notebook_path", "Glob": "path", "Grep": "path", "LS": "path"}


_MEMO_LIMIT = 20_000


class ToolRules:
    """The rules that can speak about one tool, with memoised text/path matching.

    Matching a text or a path against the rules is a pure function of the two, so the answers are kept:
    a session asks about the same commands and files over and over.
    """

    __slots__ = ("_memo", "allow", "ask", "deny")

    def __init__(self, deny: tuple[CompiledRule, ...], ask: tuple[CompiledRule, ...], allow: tuple[CompiledRule, ...]):
        self.deny, self.ask, self.allow = deny, ask, allow
        self._memo: dict[tuple[Any, ...], CompiledRule | None] = {}

    def _rules(self, behavior: str) -> tuple[CompiledRule, ...]:
        return self.deny if behavior == "deny" else self.ask if behavior == "ask" else self.allow

    def _remember(self, key: tuple[Any, ...], value: CompiledRule | None) -> CompiledRule | None:
        if len(self._memo) >= _MEMO_LIMIT:
            self._memo.clear()
        self._memo[key] = value
        return value

    def command(self, behavior: str, texts: tuple[str, ...], *, exact_only: bool = False) -> CompiledRule | None:
        """First Bash rule of `behavior` matching any of `texts`."""
        key = ("c", behavior, texts, exact_only)
        if key in self._memo:
            return self._memo[key]
        hit = next(
            (
                r
                for r in self._rules(behavior)
                if r.kind == "bash" and (r.exact or not exact_only) and any(r.match_command(t) for t in texts)
            ),
            None,
        )
        return self._remember(key, hit)

    def path(self, behavior: str, paths: tuple[str, ...], *, every: bool, is_dir: bool = False) -> CompiledRule | None:
        """First path rule of `behavior` matching any (or, for allow, every) of `paths`."""
        key = ("p", behavior, paths, every, is_dir)
        if key in self._memo:
            return self._memo[key]
        hit = None
        if paths:
            for rule in self._rules(behavior):
                if rule.kind != "path":
                    continue
                hits = (rule.match_path(p, is_dir=is_dir) for p in paths)
                if all(hits) if every else any(hits):
                    hit = rule
                    break
        return self._remember(key, hit)


class RuleIndex:
    """Rules grouped by the tool they can speak about; computed once per tool name."""

    def __init__(self, rules: Sequence[CompiledRule]) -> None:
        self._rules = list(rules)
        self._cache: dict[str, ToolRules] = {}

    def add(self, rule: CompiledRule) -> None:
        self._rules.append(rule)
        self._cache.clear()

    def __len__(self) -> int:
        return len(self._rules)

    def for_tool(self, tool: str) -> ToolRules:
        hit = self._cache.get(tool)
        if hit is None:
            by: dict[str, list[CompiledRule]] = {"deny": [], "ask": [], "allow": []}
            for rule in self._rules:
                if rule.covers_tool(tool):
                    by[rule.behavior].append(rule)
            hit = ToolRules(tuple(by["deny"]), tuple(by["ask"]), tuple(by["allow"]))
            self._cache[tool] = hit
        return hit


@dataclass(slots=True)
class Facts:
    subject: str
    deny: CompiledRule | None = None
    ask: CompiledRule | None = None
    detail: str = ""  # which part of the call the deny/ask rule matched
    mutates: bool = False  # writes or executes: refused in plan mode
    safety: tuple[str, str] | None = None  # (source, reason): never approved by an allow rule
    safety_bypassable: bool = True
    allowed_by: list[CompiledRule] = field(default_factory=list)
    builtin: str | None = None  # "builtin:read-only", "mode:acceptEdits", ...
    complete: bool = False  # every part of the call is allowed
    user_interaction: bool = False
    pending: list[str] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Context:
    rules: RuleIndex
    working_dirs: tuple[str, ...]
    start_cwd: str
    home: str


def whole_or_param(rules: Sequence[CompiledRule], tool_input: Mapping[str, Any]) -> CompiledRule | None:
    for rule in rules:
        if rule.whole_tool or rule.match_param(tool_input):
            return rule
    return None


def analyze_file(tool: str, tool_input: Mapping[str, Any], ctx: Context, *, mode: str, cwd: str) -> Facts:
    is_edit = tool in EDIT_FAMILY
    is_dir = tool in ("Glob", "Grep", "LS")
    raw = tool_input.get(_PATH_KEYS.get(tool, "file_path"))
    if raw is None and is_dir:
        raw = cwd
    if not isinstance(raw, str) or not raw:
        facts = Facts(subject=f"{tool} call without a path", mutates=is_edit)
        facts.deny = whole_or_param(ctx.rules.for_tool(tool).deny, tool_input)
        return facts
    paths = list(link_candidates(normalize(raw, cwd=cwd, home=ctx.home)))
    pattern = tool_input.get("pattern") if tool == "Glob" else None
    if isinstance(pattern, str) and (pattern.startswith(("/", "~")) or ".." in pattern):
        literal = pattern.split("*", 1)[0].rsplit("/", 1)[0] or "/"
        paths.extend(link_candidates(normalize(literal, cwd=paths[0], home=ctx.home)))
    facts = Facts(subject=f"{tool} of {paths[0]}", mutates=is_edit)
    rules = ctx.rules.for_tool(tool)
    candidates = tuple(paths)
    facts.deny = whole_or_param(rules.deny, tool_input) or rules.path("deny", candidates, every=False, is_dir=is_dir)
    facts.ask = whole_or_param(rules.ask, tool_input) or rules.path("ask", candidates, every=False, is_dir=is_dir)
    if is_edit and any(is_protected(p) for p in paths):
        facts.safety = ("builtin:protected-path", f"{paths[0]} is a protected path (.git, .claude, shell rc...)")
    allow = next((r for r in rules.allow if r.whole_tool), None) or rules.path(
        "allow", candidates, every=True, is_dir=is_dir
    )
    in_wd = all(inside_any(p, ctx.working_dirs) for p in paths)
    if allow is not None:
        facts.allowed_by.append(allow)
        facts.complete = True
    elif not is_edit and in_wd:
        facts.builtin, facts.complete = "builtin:read-only", True
    elif is_edit and in_wd and mode == "acceptEdits":
        facts.builtin, facts.complete = "mode:acceptEdits", True
    family = "Edit" if is_edit else "Read"
    if is_edit:
        facts.suggestions.append(f"{family}({absolute_rule_path(paths[0])})")
    else:
        folder = paths[0] if is_dir else os.path.dirname(paths[0])
        facts.suggestions.append(f"{family}({absolute_rule_path(folder.rstrip('/'))}/**)")
    if not in_wd:
        facts.pending.append(f"{paths[0]} is outside the working directories")
    return facts


def analyze_web_fetch(tool_input: Mapping[str, Any], ctx: Context) -> Facts:
    url = tool_input.get("url")
    host = url_host(url) if isinstance(url, str) else None
    facts = Facts(subject=f"WebFetch of {url!s}")
    rules = ctx.rules.for_tool("WebFetch")
    facts.deny = whole_or_param(rules.deny, tool_input)
    facts.ask = whole_or_param(rules.ask, tool_input)
    if host is None:
        facts.safety = ("builtin:unparsed", f"cannot find a hostname in URL {url!r}")
        return facts
    facts.deny = facts.deny or next((r for r in rules.deny if r.match_host(host)), None)
    facts.ask = facts.ask or next((r for r in rules.ask if r.match_host(host)), None)
    allow = next((r for r in rules.allow if r.whole_tool or r.match_host(host)), None)
    if allow is not None:
        facts.allowed_by.append(allow)
        facts.complete = True
    facts.suggestions.append(f"WebFetch(domain:{host})")
    return facts


def analyze_generic(tool: str, tool_input: Mapping[str, Any], ctx: Context) -> Facts:
    """MCP tools, Agent/Task, Skill, WebSearch and any custom tool."""
    name: str | None = None
    if tool == "Task":
        name = str(tool_input.get("subagent_type") or "general-purpose")
    elif tool == "Skill":
        name = " ".join(str(x) for x in (tool_input.get("skill"), tool_input.get("args")) if x)
    facts = Facts(subject=f"{tool} call" + (f" ({name})" if name else ""))
    rules = ctx.rules.for_tool(tool)

    def first(candidates: tuple[CompiledRule, ...]) -> CompiledRule | None:
        return whole_or_param(candidates, tool_input) or (
            next((r for r in candidates if r.match_name(name)), None) if name is not None else None
        )

    facts.deny, facts.ask = first(rules.deny), first(rules.ask)
    allow = next((r for r in rules.allow if r.whole_tool or (name is not None and r.match_name(name))), None)
    if allow is not None:
        facts.allowed_by.append(allow)
        facts.complete = True
    elif tool in NO_PERMISSION_TOOLS:
        facts.builtin, facts.complete = "builtin:no-permission-needed", True
    facts.user_interaction = tool in USER_INTERACTION_TOOLS
    facts.suggestions.append(tool if name is None or tool != "Skill" else f"Skill({name.split(' ', 1)[0]} *)")
    return facts


def is_file_tool(tool: str) -> bool:
    return tool in READ_FAMILY or tool in EDIT_FAMILY
