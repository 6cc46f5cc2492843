"""Permission rule grammar: `Tool` or `Tool(specifier)` (reference §2.1), parsed once and compiled to matchers.

Rule kinds, by tool:
  Bash/PowerShell   exact, `prefix *`, `prefix:*` (trailing only), `*` anywhere      -> bash.BashPattern
  Read/Edit         gitignore path patterns with `//`, `~/`, `/`, `./` anchors        -> paths.PathPattern
  WebFetch          `domain:host` with `*.` subdomains and one-label `*`
  Agent/Task, Skill subagent type / skill name (Skill args via a Bash-style pattern)
  any built-in      `param:value` on a top-level scalar input field (deny/ask only)
  tool-name globs   `*`, `mcp__*`, `mcp__srv__get_*` (allow: only after a literal `mcp__srv__`)

The syntax (parse_rule, rule_problem, the tool families) is dexa.config.rules, re-exported here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from dexa.config.rules import (
    EDIT_FAMILY,
    PARAM_RULE,
    PRIMARY_FIELDS,
    READ_FAMILY,
    SHELL_TOOLS,
    Behavior,
    ParsedRule,
    RuleSyntaxError,
    canonical_tool,
    glob_regex,
    is_param_rule,
    parse_rule,
    rule_problem,
    split_tool_list,
)

from .bash import BashPattern
from .paths import PathPattern


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
            self._tool_re = glob_regex(self.tool)
        elif self.tool.startswith("mcp__"):
            self.kind = "mcp_server" if "__" not in self.tool[5:] else "tool"
            if spec is not None:
                self._compile_param(spec)
        elif spec is None:
            self.kind = "tool"
        elif (m := PARAM_RULE.match(spec)) and is_param_rule(self.tool, m.group(1)) and behavior != "allow":
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
        m = PARAM_RULE.match(spec)
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


__all__ = [
    "EDIT_FAMILY",
    "PRIMARY_FIELDS",
    "READ_FAMILY",
    "SHELL_TOOLS",
    "Behavior",
    "CompiledRule",
    "ParsedRule",
    "RuleSyntaxError",
    "canonical_tool",
    "parse_rule",
    "rule_problem",
    "split_tool_list",
    "url_host",
]
