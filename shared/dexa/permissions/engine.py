"""The permission engine: a tool call in, allow/ask/deny out, with the rule and the file that decided it.

Precedence, first match wins (reference §2.2, §2.6, §2.7):
  1. deny rule (any file, any part of a compound command)          -> deny
  2. plan mode and the call writes or executes                       -> deny (the model is told it is planning)
  3. ask rule                                                        -> ask   (dontAsk: deny)
  4. safety: protected-path write, critical-path rm, unparsable cmd  -> ask   (dontAsk: deny; bypass: allow,
                                                                               except critical-path rm)
  5. bypassPermissions                                               -> allow
  6. allow rule / built-in read-only / acceptEdits                   -> allow
  7. the mode's default                                              -> ask   (dontAsk: deny)

Hook contract for the turn engine (reference §2.2, §3.5): run PreToolUse hooks first; if one returned
`updatedInput`, decide on the updated input; then `combine(hook_outcome, engine.decide(...), mode=mode)`.
A hook deny or exit-2 block always denies; a rule deny always denies; a hook "ask" forces a prompt; a hook
"allow" only removes the mode's own prompt, never an ask rule, a safety check or a deny.

Cases where the docs were unclear and Dexa decided (keep this list current):
Permissions
  - Plan mode: Claude Code prompts for non-read-only commands; Dexa *denies* every write/execute call in plan
    mode (edits, non-read-only Bash, PowerShell), even one an allow rule matches, with a reason telling the
    model it is planning. MCP tools, Skill, WebFetch, reads outside the working dirs and unknown tools keep
    their normal flow (usually ask).
  - The built-in read-only Bash set is refused to any leading `VAR=value`, any wrapper (`timeout`, `xargs`,
    `time`...) and the options of its programs that run code or write (the table and its decisions: readonly.py).
  - Read-only Bash commands are auto-allowed only when every path they read (link and target) is inside the
    working directories or covered by a Read allow rule (Claude Code lets `cat /etc/hosts` run); else ask.
  - A write redirect (`>`, `>>`, `&>`, `>|`) is accepted without a prompt when an Edit allow rule covers the
    target, or when the target is inside the working directories and the mode is acceptEdits/bypass or a bare
    `Bash` allow rule is in force. A specific Bash rule does not cover the write (observed: Claude Code 2.1.331
    asks for `echo x > f` under `Bash(echo *)` and `Bash(echo:*)`, runs it under bare `Bash`; checked by
    tests/integration/parity). A read-only command alone (`ls > out.txt`) asks in
    default mode, like any file write.
  - `tee`, `ln`, `chmod`, `truncate`... targets are checked against Edit deny/ask rules and protected paths,
    but acceptEdits auto-approves only Claude Code's list (mkdir, touch, rm, rmdir, mv, cp, sed).
  - Deny/ask rules are also tried against the command with sudo/env/exec/watch/xargs-with-flags stripped and
    against the whole unsplit string; this can only make deny/ask match more often.
  - `cd` inside a compound: later relative paths must be inside the working directories for *every*
    directory the shell may be in (before and after each cd), since the cd may fail or run in a subshell.
  - Words are re-joined with single spaces before matching (`ls  -la` matches `Bash(ls -la)`): shell word
    splitting makes them the same command. Redirections are not part of the matched text.
  - Control flow (if/for/while/case/functions) and unparsable commands are never auto-approved by prefix
    rules: they ask (an exact rule equal to the whole string still allows), but deny/ask rules are still
    checked against every part the parser could find. bypassPermissions allows them.
  - Critical-path rm also covers a glob directly under the working directory (`rm -rf *`), not only globs
    under additional directories; `$HOME` in a target is treated as the home directory.
  - A bare `Read` rule covers Read, Glob, Grep, LS and NotebookRead; a bare `Edit` rule covers Edit, Write,
    MultiEdit and NotebookEdit. A `Read` path deny also blocks Edit/Write/MultiEdit on that path.
  - `Tool(name:value)` is a parameter rule only when `name` is an input field of that tool (so
    `Agent(plugin:reviewer)` stays a subagent name and `Bash(ls:*)` a prefix rule).
  - Suggestions use the space form Claude Code's dialog writes today (`Bash(npm run test *)`), one per
    subcommand that needed approval, at most 5.
  - A hook "allow" does not override a protected-path or unparsable-command prompt (only the mode's prompt).
  - No preapproved WebFetch documentation domains: Dexa's network policy is the place for that.
  - `auto` mode does not exist in Dexa (no classifier); asking for it is a ConfigError, and deciding with
    bypassPermissions while policy disables it degrades to default with the reason saying so. The Shift+Tab
    cycle leaves dontAsk for default.
Settings (config/loader.py, config/merge.py)
  - The injected org-policy dict and the managed file are two managed sources: the first that delivers any
    key wins, without merging (reference §1.3), org policy first. `/path` rules from the managed file anchor
    at its directory; from the org-policy dict, at the session's start directory.
  - `--permission-mode` beats a managed `defaultMode` (the docs' start-mode order); every other managed
    scalar beats the command line.
  - Dexa's numeric knobs (budgetUsd, maxTurns, loopDetection.threshold) take the highest non-managed value
    capped by the org value: a user can lower an org limit but not raise it. An org `network.allowedDomains`
    list is authoritative; otherwise the lists pool.
  - Cloud semantics (`hosted=True`) ignore bypassPermissions/dontAsk from settings files (`--settings`
    files included); workspace trust (`trusted=False`) holds the shared project file's allow rules and
    additionalDirectories.
Hooks (hooks/runner.py, hooks/protocol.py)
  - Default timeouts follow current Claude Code: 600 s for command/http, 30 s for UserPromptSubmit, a shared
    1.5 s budget (up to the largest configured timeout, max 60 s) for SessionEnd. Older docs said 60 s.
  - `hookSpecificOutput` without the right `hookEventName` is ignored and reported.
  - `permissionDecision: "defer"` becomes "ask" (Dexa has no deferred tool calls).
  - With several hooks, `updatedInput` comes from the last hook whose decision matches the winning one.
  - Hook commands get PATH/HOME/LANG/LC_ALL/TERM/TMPDIR/USER from the host, the settings `env`, and the hook
    variables; nothing else from the host environment.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from dexa.config.settings import EffectiveSettings, RuleEntry
from dexa.core.errors import ConfigError
from dexa.core.ports import HookOutcome, PermissionDecision

from .analysis import Context, Facts, RuleIndex, analyze_file, analyze_generic, analyze_web_fetch, is_file_tool
from .modes import normalize_mode
from .paths import normalize
from .rules import CompiledRule, RuleSyntaxError, canonical_tool, rule_problem
from .shell import analyze_bash

logger = logging.getLogger(__name__)

Behavior = Literal["allow", "ask", "deny"]
HOOK_SOURCE = "hook:PreToolUse"


class PermissionEngine:
    """Implements `dexa.core.ports.PermissionPolicy` over an `EffectiveSettings` stack."""

    def __init__(
        self,
        settings: EffectiveSettings,
        *,
        cwd: str | None = None,
        additional_dirs: Iterable[str] = (),
        session_rules: Iterable[str | RuleEntry] = (),
        home: str | None = None,
    ) -> None:
        self.settings = settings
        self.home = home or settings.home
        self.start_cwd = normalize(cwd or settings.cwd, cwd=settings.cwd, home=self.home)
        self._extra_dirs = tuple(additional_dirs)
        compiled: list[CompiledRule] = []
        for behavior in ("deny", "ask", "allow"):
            for entry in settings.rules(behavior):
                compiled.extend(self._compile(entry, behavior))
        self._index = RuleIndex(compiled)
        self._ctx = self._context()
        for rule in session_rules:
            self.add_session_rule(rule)

    def _context(self) -> Context:
        dirs = self.settings.working_dirs(self._extra_dirs)
        if self.start_cwd not in dirs:
            dirs = (self.start_cwd, *dirs)
        return Context(rules=self._index, working_dirs=dirs, start_cwd=self.start_cwd, home=self.home)

    def _compile(self, entry: RuleEntry, behavior: Behavior) -> list[CompiledRule]:
        try:
            return [
                CompiledRule(
                    entry.rule, behavior, entry.source, anchor=entry.anchor, cwd=self.settings.cwd, home=self.home
                )
            ]
        except RuleSyntaxError as exc:
            logger.warning("skipping permission rule %r from %s: %s", entry.rule, entry.source, exc)
            return []

    @property
    def working_dirs(self) -> tuple[str, ...]:
        return self._ctx.working_dirs

    @property
    def rule_count(self) -> int:
        return len(self._index)

    def add_session_rule(self, rule: str | RuleEntry, behavior: Behavior = "allow") -> None:
        """An "always allow for this session" answer (or a session deny/ask). Raises ConfigError if malformed."""
        entry = (
            rule
            if isinstance(rule, RuleEntry)
            else RuleEntry(rule=rule, source="session", anchor=self.settings.cwd, scope="session")
        )
        usable, warning = rule_problem(entry.rule, behavior, from_file=False)
        if not usable:
            raise ConfigError(f"invalid session rule {entry.rule!r}: {warning}")
        for compiled in self._compile(entry, behavior):
            self._index.add(compiled)

    def add_directory(self, path: str) -> None:
        """`/add-dir`: one more working directory for the rest of the session."""
        self._extra_dirs = (*self._extra_dirs, path)
        self._ctx = self._context()

    def read_denied(self, path: str) -> bool:
        """For Grep/Glob result filtering: is this file covered by a Read deny rule?"""
        rules = self._index.for_tool("Read").deny
        return any(r.whole_tool or r.match_path(normalize(path, cwd=self.start_cwd, home=self.home)) for r in rules)

    def decide(self, tool_name: str, tool_input: Mapping[str, Any], *, mode: str, cwd: str) -> PermissionDecision:
        mode_name, mode_note = self._mode(mode)
        tool = canonical_tool(tool_name)
        here = normalize(cwd, cwd=self.start_cwd, home=self.home) if cwd else self.start_cwd
        if tool == "Bash":
            command = tool_input.get("command")
            facts = analyze_bash(str(command or ""), tool_input, self._ctx, mode=mode_name, cwd=here)
        elif is_file_tool(tool):
            facts = analyze_file(tool, tool_input, self._ctx, mode=mode_name, cwd=here)
        elif tool == "WebFetch":
            facts = analyze_web_fetch(tool_input, self._ctx)
        else:
            facts = analyze_generic(tool, tool_input, self._ctx)
            facts.mutates = tool == "PowerShell"
        decision = _conclude(facts, mode_name)
        if mode_note:
            decision = _with_reason(decision, f"{decision.reason} ({mode_note})")
        return decision

    def _mode(self, mode: str) -> tuple[str, str]:
        try:
            name = normalize_mode(mode)
        except ConfigError as exc:
            logger.warning("%s; deciding as default mode", exc.message)
            return "default", f"unknown mode {mode!r} treated as default"
        if name == "bypassPermissions" and self.settings.disable_bypass_permissions_mode:
            return "default", "bypassPermissions is disabled by policy, so default mode applied"
        return name, ""


def _decision(
    behavior: Behavior, reason: str, *, rule: str | None, source: str | None, suggestions: Iterable[str] = ()
) -> PermissionDecision:
    return PermissionDecision(
        behavior=behavior, rule=rule, source=source, reason=reason, suggestions=tuple(suggestions)
    )


def _with_reason(d: PermissionDecision, reason: str) -> PermissionDecision:
    return PermissionDecision(
        behavior=d.behavior, rule=d.rule, source=d.source, reason=reason, suggestions=d.suggestions
    )


def _conclude(f: Facts, mode: str) -> PermissionDecision:
    where = f" (matched {f.detail})" if f.detail and f.detail not in f.subject else ""
    if f.deny is not None:
        return _decision(
            "deny",
            f"{f.subject} is denied by rule {f.deny.raw} from {f.deny.source}{where}.",
            rule=f.deny.raw,
            source=f.deny.source,
        )
    if mode == "plan" and f.mutates:
        return _decision(
            "deny",
            f"Plan mode is active: {f.subject} would change files or run a command. Only read-only tools may run "
            "while planning; present the plan with ExitPlanMode and wait for approval.",
            rule=None,
            source="mode:plan",
        )
    if f.ask is not None:
        if mode == "dontAsk":
            return _decision(
                "deny",
                f"{f.subject} matches ask rule {f.ask.raw} from {f.ask.source}{where}; dontAsk mode denies "
                "anything that would need approval.",
                rule=f.ask.raw,
                source=f.ask.source,
            )
        return _decision(
            "ask",
            f"{f.subject} matches ask rule {f.ask.raw} from {f.ask.source}{where}, which always asks.",
            rule=f.ask.raw,
            source=f.ask.source,
            suggestions=f.suggestions,
        )
    if f.safety is not None and not (mode == "bypassPermissions" and f.safety_bypassable):
        source, why = f.safety
        if mode == "dontAsk":
            return _decision(
                "deny", f"{f.subject} needs approval because {why}; dontAsk mode denies it.", rule=None, source=source
            )
        return _decision(
            "ask",
            f"{f.subject} needs approval because {why}; no allow rule can pre-approve that.",
            rule=None,
            source=source,
        )
    if mode == "bypassPermissions":
        return _decision(
            "allow",
            f"{f.subject} is allowed: bypassPermissions mode allows every call no deny or ask rule matches.",
            rule=None,
            source="mode:bypassPermissions",
        )
    if f.user_interaction:
        if mode == "dontAsk":
            return _decision(
                "deny", f"{f.subject} needs a user answer; dontAsk mode never asks.", rule=None, source="mode:dontAsk"
            )
        return _decision("allow", f"{f.subject} asks the user directly.", rule=None, source="builtin:user-interaction")
    if f.complete:
        return _allowed(f)
    pending = "; ".join(f.pending[:3])
    why = f": {pending}" if pending else ""
    if mode == "dontAsk":
        return _decision(
            "deny",
            f"{f.subject} is not pre-approved by any allow rule{why}; dontAsk mode denies "
            "anything that would need approval.",
            rule=None,
            source="mode:dontAsk",
        )
    return _decision(
        "ask",
        f"{f.subject} is not pre-approved by any allow rule{why}; {mode} mode asks for approval.",
        rule=None,
        source=f"mode:{mode}",
        suggestions=f.suggestions,
    )


def _allowed(f: Facts) -> PermissionDecision:
    if f.allowed_by:
        rules = ", ".join(dict.fromkeys(r.raw for r in f.allowed_by))
        sources = ", ".join(dict.fromkeys(r.source for r in f.allowed_by))
        extra = " and the built-in read-only command set" if f.builtin == "builtin:read-only" else ""
        extra = " and acceptEdits mode" if f.builtin == "mode:acceptEdits" else extra
        return _decision(
            "allow", f"{f.subject} is allowed by rule {rules} from {sources}{extra}.", rule=rules, source=sources
        )
    if f.builtin == "mode:acceptEdits":
        return _decision(
            "allow",
            f"{f.subject} is allowed: acceptEdits mode accepts edits and filesystem commands "
            "inside the working directories.",
            rule=None,
            source="mode:acceptEdits",
        )
    if f.builtin == "builtin:no-permission-needed":
        return _decision("allow", f"{f.subject} needs no permission.", rule=None, source=f.builtin)
    return _decision(
        "allow",
        f"{f.subject} is read-only and stays inside the working directories.",
        rule=None,
        source="builtin:read-only",
    )


def hook_overridable(decision: PermissionDecision) -> bool:
    """Only the mode's own prompt (no rule, source `mode:*`) can be answered by a PreToolUse hook "allow"."""
    source = decision.source or ""
    if decision.rule is not None or not source.startswith("mode:"):
        return False
    return decision.behavior == "ask" or (decision.behavior == "deny" and source == "mode:dontAsk")


def combine(hook: HookOutcome | None, decision: PermissionDecision, *, mode: str = "default") -> PermissionDecision:
    """Claude Code's precedence between PreToolUse hooks and rules (reference §2.2, §3.4, §3.5).

    hook block/deny > rule deny > hook ask > rule ask > hook allow (only over the mode's prompt) > decision.
    """
    if hook is None:
        return decision
    reason = hook.reason.strip()
    if hook.blocked or hook.permission_decision == "deny":
        return _decision("deny", reason or "Blocked by a PreToolUse hook.", rule=None, source=HOOK_SOURCE)
    if decision.behavior == "deny" and not (hook.permission_decision == "allow" and hook_overridable(decision)):
        return decision
    if hook.permission_decision == "ask":
        if decision.behavior == "ask" and decision.rule is not None:
            return decision
        if mode == "dontAsk":
            return _decision(
                "deny",
                f"A PreToolUse hook asked for approval ({reason or 'no reason given'}); dontAsk mode denies it.",
                rule=None,
                source=HOOK_SOURCE,
            )
        return _decision(
            "ask",
            reason or "A PreToolUse hook asked for approval.",
            rule=None,
            source=HOOK_SOURCE,
            suggestions=decision.suggestions,
        )
    if hook.permission_decision == "allow" and decision.behavior != "allow" and hook_overridable(decision):
        return _decision("allow", reason or "Approved by a PreToolUse hook.", rule=None, source=HOOK_SOURCE)
    return decision


def matches_rule(rule: str, tool_name: str, tool_input: Mapping[str, Any], *, cwd: str, home: str) -> bool:
    """Does `rule` match this call the way a deny rule would? Used for a hook handler's `if` field.

    Bash is checked against every subcommand (incl. `$( )` and backticks); an unparsable command matches
    (fails open, reference §3.1). A malformed rule matches nothing.
    """
    try:
        compiled = CompiledRule(rule, "deny", "hook", anchor=cwd, cwd=cwd, home=home)
    except RuleSyntaxError:
        return False
    ctx = Context(rules=RuleIndex([compiled]), working_dirs=(cwd,), start_cwd=cwd, home=home)
    tool = canonical_tool(tool_name)
    if tool == "Bash":
        facts = analyze_bash(str(tool_input.get("command") or ""), tool_input, ctx, mode="default", cwd=cwd)
        return facts.deny is not None or (facts.safety is not None and facts.safety[0] == "builtin:unparsed")
    if is_file_tool(tool):
        facts = analyze_file(tool, tool_input, ctx, mode="default", cwd=cwd)
    elif tool == "WebFetch":
        facts = analyze_web_fetch(tool_input, ctx)
    else:
        facts = analyze_generic(tool, tool_input, ctx)
    return facts.deny is not None
