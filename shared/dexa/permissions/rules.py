"""Permission rule grammar: `Tool` or `Tool(specifier)` (reference §2.1), parsed once and compiled to matchers.

Rule kinds, by tool:
  Bash/PowerShell   exact, `prefix *`, `prefix:*` (trailing only), `*` anywhere      -> bash.BashPattern
  Read/Edit         gitignore path patterns with `//`, `~/`, `/`, `./` anchors        -> paths.PathPattern
  WebFetch          `domain:host` with `*.` subdomains and one-label `*`
  Agent/Task, Skill subagent type / skill name (Skill args via a Bash-style pattern)
  any built-in      `param:value` on a top-level scalar input field (deny/ask only)
  tool-name globs   `*`, `mcp__*`, `mcp__srv__get_*` (allow: only after a literal `mcp__srv__`)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from dexa.core.tools import TOOL_ALIASES

from .bash import BashPattern
from .paths import PathPattern

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
_PARAM = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_\-]*)\s*:\s*(.*?)\s*$", re.DOTALL)


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


def _glob_regex(pattern: str) -> re.Pattern[str]:
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
    param = _PARAM.match(spec)
    is_param = param is not None and _is_param_rule(tool, param.group(1))
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


def _is_param_rule(tool: str, name: str) -> bool:
    """`name:value` is a parameter rule when `name` is an input field (plugin agent names contain colons too)."""
    fields = _KNOWN_FIELDS.get(tool)
    return name in fields if fields is not None else True


class CompiledRule:
    """A rule ready to match calls. `kind` says which input it looks at."""

    __slots__ = ("_matcher", "_param", "_tool_re", "behavior", "kind", "raw", "source", "spec", "tool")

    def __init__(self, raw: str, behavior: Behavior, source: str, *, anchor: str, cwd: str, home: str) -> None:
        rule = parse_rule(raw)
        self.raw, self.behavior, self.source = rule.raw, behavior, source
        self.tool, self.spec = rule.tool, rule.specifier
        self._tool_re: re.Pattern[str] | None = None
        self._matcher: Any = None
        self._param: tuple[str, re.Pattern[str]] | None = None
        spec = self.spec
        if "*" in self.tool:
            self.kind = "tool_glob"
            self._tool_re = _glob_regex(self.tool)
        elif self.tool.startswith("mcp__"):
            self.kind = "mcp_server" if "__" not in self.tool[5:] else "tool"
            if spec is not None:
                self._compile_param(spec)
        elif spec is None:
            self.kind = "tool"
        elif (m := _PARAM.match(spec)) and _is_param_rule(self.tool, m.group(1)) and behavior != "allow":
            self._compile_param(spec)
        elif self.tool in SHELL_TOOLS:
            self.kind = "bash"
            self._matcher = BashPattern(spec)
        elif self.tool in ("Read", "Edit"):
            self.kind = "path"
            self._matcher = PathPattern(spec, behavior=behavior, anchor=anchor, cwd=cwd, home=home)
        elif self.tool == "WebFetch" and spec.startswith("domain:"):
            self.kind = "domain"
            self._matcher = _domain_regex(spec[len("domain:") :])
        elif self.tool in ("Task", "Skill"):
            self.kind = "name"
            self._matcher = BashPattern(spec)
        else:
            self.kind = "inert"

    def _compile_param(self, spec: str) -> None:
        m = _PARAM.match(spec)
        if m is None:
            self.kind = "inert"
            return
        self.kind = "param"
        self._param = (m.group(1), re.compile("(?s)" + ".*".join(re.escape(p) for p in m.group(2).split("*"))))

    def covers_tool(self, tool: str) -> bool:
        """Does this rule speak about `tool` at all (before looking at the input)?"""
        if self.kind == "tool_glob":
            assert self._tool_re is not None
            return self._tool_re.fullmatch(tool) is not None
        if self.kind == "mcp_server":
            return tool == self.tool or tool.startswith(self.tool + "__")
        if self.tool == tool:
            return True
        if self.kind in ("tool", "path") and self.tool == "Read":
            return tool in READ_FAMILY or (
                self.kind == "path" and self.behavior == "deny" and tool in EDIT_FAMILY and tool != "NotebookEdit"
            )
        if self.kind in ("tool", "path") and self.tool == "Edit":
            return tool in EDIT_FAMILY
        return False

    @property
    def exact(self) -> bool:
        """A Bash rule without any `*`: the only kind that may approve exec wrappers like `watch`."""
        return self.kind == "bash" and self._matcher.exact

    @property
    def whole_tool(self) -> bool:
        return self.kind in ("tool", "tool_glob", "mcp_server")

    def match_command(self, command: str) -> bool:
        return self.kind == "bash" and self._matcher.matches(command)

    def match_path(self, path: str, *, is_dir: bool = False) -> bool:
        return self.kind == "path" and self._matcher.matches(path, is_dir=is_dir)

    def match_host(self, host: str) -> bool:
        return self.kind == "domain" and self._matcher.fullmatch(host) is not None

    def match_name(self, text: str) -> bool:
        return self.kind == "name" and self._matcher.matches(text)

    def match_param(self, tool_input: Mapping[str, Any]) -> bool:
        if self.kind != "param" or self._param is None:
            return False
        name, regex = self._param
        if name not in tool_input:
            return False
        value = tool_input[name]
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, int | float | str):
            text = str(value)
        else:
            return False
        return regex.fullmatch(text) is not None

    def __repr__(self) -> str:
        return f"CompiledRule({self.behavior} {self.raw!r} from {self.source})"


def _domain_regex(pattern: str) -> re.Pattern[str]:
    """`*.example.com`: any subdomain depth, not the apex; other `*`: exactly one label (reference §2.5)."""
    p = pattern.strip().lower().rstrip(".")
    if p == "*":
        return re.compile(r"(?s).+")
    if p.startswith("*."):
        tail = ".".join(_label(x) for x in p[2:].split("."))
        return re.compile(r"(?:[^.]+\.)+" + tail)
    return re.compile(".".join(_label(x) for x in p.split(".")))


def _label(label: str) -> str:
    return "[^.]*".join(re.escape(part) for part in label.split("*"))


def url_host(url: str) -> str | None:
    try:
        host = urlsplit(url if "://" in url else "https://" + url).hostname
    except ValueError:
        return None
    return host.rstrip(".").lower() if host else None
