"""Permission rule syntax as settings files write it: `Tool` or `Tool(specifier)` (reference §2.1), and what makes a
rule unusable or inert. Loading settings checks rules with this; dexa.permissions.rules compiles them to matchers.
Here, in dexa.config, because the loader needs it and the permission engine needs the loader's settings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from dexa.core.tools import TOOL_ALIASES

Behavior = Literal["allow", "ask", "deny"]

READ_FAMILY = frozenset({"Read", "Glob", "Grep", "LS", "NotebookRead"})
EDIT_FAMILY = frozenset({"Edit", "Write", "MultiEdit", "NotebookEdit"})
SHELL_TOOLS = frozenset({"Bash", "PowerShell"})
# A rule naming the primary content field as a parameter could be dodged by a compound command.
PRIMARY_FIELDS: Mapping[str, str] = {
    "Bash": "command",
    "PowerShell": "command",
    "Read": "file_path",
    "Edit": "file_path",
    "Write": "file_path",
    "MultiEdit": "file_path",
    "NotebookEdit": "notebook_path",
    "Grep": "path",
    "Glob": "path",
    "WebFetch": "url",
}
# Path rules for these are accepted but never consulted (reference §2.4); use Read/Edit instead.
_INERT_PATH_TOOLS = frozenset({"Write", "MultiEdit", "NotebookEdit", "Glob", "Grep", "NotebookRead", "LS"})
_NO_SPECIFIER_TOOLS = frozenset({"WebSearch", "TodoWrite", "AskUserQuestion", "ExitPlanMode", "EnterPlanMode"})
_RULE = re.compile(r"^\s*([^()\s]+)\s*(?:\((.*)\))?\s*$", re.DOTALL)
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_*.\-:]+$")
PARAM_RULE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_\-]*)\s*:\s*(.*?)\s*$", re.DOTALL)


class RuleSyntaxError(ValueError):
    pass


def canonical_tool(name: str) -> str:
    return TOOL_ALIASES.get(name, name)


@dataclass(frozen=True, slots=True)
class ParsedRule:
    raw: str
    tool: str  # canonical
    specifier: str | None


def parse_rule(text: str) -> ParsedRule:
    m = _RULE.match(text)
    if not m or not _TOOL_NAME.match(m.group(1)):
        raise RuleSyntaxError(f"not a permission rule: {text!r} (expected Tool or Tool(specifier))")
    tool, spec = m.group(1), m.group(2)
    if spec is not None and not spec.strip():
        raise RuleSyntaxError(f"empty specifier in {text!r}")
    if spec is not None and spec.strip() == "*":
        spec = None  # `Bash(*)` is the same as `Bash`
    return ParsedRule(text.strip(), canonical_tool(tool), spec.strip() if spec is not None else None)


def split_tool_list(values: Iterable[str]) -> list[str]:
    """`--allowedTools "Bash(git log:*) Read,Edit"` -> one rule per item; commas/spaces inside ( ) are kept."""
    out: list[str] = []
    for value in values:
        depth, current = 0, []
        for ch in value:
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth = max(0, depth - 1)
            if depth == 0 and (ch == "," or ch.isspace()):
                if current:
                    out.append("".join(current))
                current = []
                continue
            current.append(ch)
        if current:
            out.append("".join(current))
    return out


def glob_regex(pattern: str) -> re.Pattern[str]:
    return re.compile("(?s)" + ".*".join(re.escape(p) for p in pattern.split("*")))


def _mcp_server(name: str) -> str | None:
    if not name.startswith("mcp__"):
        return None
    rest = name[5:]
    return rest.split("__", 1)[0] if rest else None


def rule_problem(text: str, behavior: Behavior, *, from_file: bool) -> tuple[bool, str | None]:
    """(usable, warning). Unusable rules are skipped; usable ones with a warning still load."""
    try:
        rule = parse_rule(text)
    except RuleSyntaxError as exc:
        return False, str(exc)
    tool, spec = rule.tool, rule.specifier
    if "*" in tool:
        if behavior == "allow" and not re.match(r"^mcp__[^*_][^*]*?__", tool):
            return False, f"allow rule {text!r} has an unanchored tool-name glob; skipped"
        return True, None
    if tool.startswith("mcp__") and spec is not None and from_file:
        return False, f"MCP rule {text!r} has parentheses; Claude Code skips these in settings files"
    if spec is None:
        return True, None
    param = PARAM_RULE.match(spec)
    is_param = param is not None and is_param_rule(tool, param.group(1))
    if is_param:
        assert param is not None
        if PRIMARY_FIELDS.get(tool) == param.group(1):
            return False, f"{text!r} matches the primary field {param.group(1)!r}; use the tool's own syntax"
        if behavior == "allow":
            return False, f"parameter rule {text!r} works only in deny/ask; skipped"
        return True, None
    if tool in _INERT_PATH_TOOLS:
        return True, f"path rule {text!r} is never consulted; use Read(...) or Edit(...) instead"
    if tool in _NO_SPECIFIER_TOOLS:
        return True, f"{tool} has no specifier form; {text!r} never matches"
    return True, None


_KNOWN_FIELDS: Mapping[str, frozenset[str]] = {
    "Bash": frozenset({"command", "timeout", "description", "run_in_background", "dangerouslyDisableSandbox"}),
    "PowerShell": frozenset({"command", "timeout", "description", "run_in_background"}),
    "Task": frozenset(
        {"prompt", "description", "subagent_type", "model", "isolation", "run_in_background", "name", "mode"}
    ),
    "Skill": frozenset({"skill", "args"}),
    "Read": frozenset({"file_path", "offset", "limit", "pages"}),
    "Edit": frozenset({"file_path", "old_string", "new_string", "replace_all"}),
    "WebFetch": frozenset({"url", "prompt"}),
}


def is_param_rule(tool: str, name: str) -> bool:
    """`name:value` is a parameter rule when `name` is an input field (plugin agent names contain colons too)."""
    fields = _KNOWN_FIELDS.get(tool)
    return name in fields if fields is not None else True
