"""The Bash analyzer: every subcommand must be allowed for the whole command to be; any denied part denies it.

A part is allowed by an allow rule (allow rules look past safe env assignments only; exec wrappers need an exact
rule), by the built-in read-only set (its paths inside the working directories), or in acceptEdits by the
filesystem command list. Output redirections are file writes: Edit deny/ask rules, protected paths and the
working directories apply to their targets (reference §2.3).
"""

from __future__ import annotations

import os.path
from collections.abc import Mapping
from typing import Any

from .analysis import Context, Facts, ToolRules, whole_or_param
from .bash import ParsedCommand, SubCommand, Word, parse_command
from .commands import ACCEPT_EDITS_PROGRAMS, critical_removal, effects, git_dir_flag
from .paths import inside_any, is_protected, link_candidates, normalize
from .readonly import is_read_only, refusal
from .rules import CompiledRule

_DEVICE_SINKS = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty"})
_MAX_SUGGESTIONS = 5
_RUNNERS = frozenset({"npm", "pnpm", "yarn", "bun", "uv", "poetry", "cargo", "go", "make"})


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Paths:
    """Resolves words to absolute paths against every directory the shell might be in at that point."""

    def __init__(self, cwd: str, home: str) -> None:
        self.start = cwd
        self.home = home
        self.cwds: set[str] | None = {cwd}  # None once a `cd` target is unknowable
        self._links: dict[str, tuple[str, ...]] = {}

    def links(self, path: str) -> tuple[str, ...]:
        """`link_candidates`, asked of the filesystem once per path per decision."""
        hit = self._links.get(path)
        if hit is None:
            hit = self._links[path] = link_candidates(path)
        return hit

    def resolve(self, word: Word) -> list[str] | None:
        """Every absolute path `word` may name, or None when it cannot be known statically."""
        if word.expands or word.brace:
            return None
        value = word.value
        if word.glob:
            value = value.split("*", 1)[0].split("?", 1)[0].split("[", 1)[0]
            value = value.rsplit("/", 1)[0] if "/" in value else ""
            value = value or "."
        if word.tilde:
            if not (value == "~" or value.startswith("~/")):
                return None  # ~user
            value = self.home + value[1:]
        if value.startswith("/"):
            return [os.path.normpath(value)]
        if self.cwds is None:
            return None
        return [normalize(value, cwd=c, home=self.home) for c in sorted(self.cwds)]

    def cd(self, sub: SubCommand) -> list[str] | None:
        target = sub.args[0] if sub.args else Word("~", "~", False, False, True)
        # `cd -` goes to $OLDPWD and `cd -P dir`/`cd -L dir` take options: neither is a known place.
        resolved = None if target.value.startswith("-") else self.resolve(target)
        if resolved is None:
            self.cwds = None
        elif self.cwds is not None:
            # Keep the old directories too: the cd may fail, or run in a subshell.
            self.cwds |= set(resolved)
        return resolved


def analyze_bash(command: str, tool_input: Mapping[str, Any], ctx: Context, *, mode: str, cwd: str) -> Facts:
    facts = Facts(subject=f"Bash command `{_short(command)}`", mutates=True)
    bash = ctx.rules.for_tool("Bash")
    facts.deny = whole_or_param(bash.deny, tool_input)
    facts.ask = whole_or_param(bash.ask, tool_input)
    whole_allow = next((r for r in bash.allow if r.whole_tool), None)
    whole = (command.strip(),)
    exact_allow = bash.command("allow", whole, exact_only=True)
    # The whole string is tried too, so a rule containing an operator can still deny/ask.
    facts.deny = facts.deny or bash.command("deny", whole)
    facts.ask = facts.ask or bash.command("ask", whole)
    parsed = parse_command(command)
    if not parsed.ok or parsed.opaque:
        why = (
            f"it could not be analysed ({parsed.error})"
            if parsed.error
            else parsed.opaque_reason
            or "it uses shell control flow (if/for/while/case/functions) the analysis does not follow"
        )
        _scan_parts(parsed, facts, ctx, mode=mode, cwd=cwd, whole_allow=None)
        facts.mutates = True
        facts.detail = facts.detail or command.strip()
        # A bare `Bash` rule allows parsed control flow and groups (Claude Code does); never unparsable/over-long text.
        allow = exact_allow or (whole_allow if parsed.ok else None)
        if allow is not None:
            facts.allowed_by.append(allow)
            facts.complete = True
        else:
            facts.safety = ("builtin:unparsed", why)
        return facts
    _scan_parts(parsed, facts, ctx, mode=mode, cwd=cwd, whole_allow=whole_allow)
    if exact_allow is not None and not facts.complete:
        facts.allowed_by = [exact_allow]
        facts.complete, facts.pending = True, []
    return facts


def _scan_parts(
    parsed: ParsedCommand, facts: Facts, ctx: Context, *, mode: str, cwd: str, whole_allow: CompiledRule | None
) -> None:
    bash = ctx.rules.for_tool("Bash")
    paths = _Paths(cwd, ctx.home)
    all_ok, all_read_only = True, True
    for sub in parsed.subcommands:
        write_paths, read_paths = _restrictions(sub, facts, ctx, paths)
        critical = critical_removal(sub, cwd=cwd, home=ctx.home, working_dirs=ctx.working_dirs)
        if critical is not None and (facts.safety is None or facts.safety[0] != "builtin:critical-path"):
            facts.safety = ("builtin:critical-path", f"`{_short(sub.core_text)}` removes the critical path {critical}")
            facts.safety_bypassable = False
        known_writes = [p for p in (write_paths or []) if p is not None]
        if facts.safety is None and any(is_protected(c) for p in known_writes for c in paths.links(p)):
            facts.safety = ("builtin:protected-path", f"`{_short(sub.core_text)}` writes to a protected path")
        writes_known = write_paths is not None and None not in write_paths
        writes_inside = writes_known and all(
            inside_any(c, ctx.working_dirs) for p in known_writes for c in paths.links(p)
        )
        reads_inside = _reads_allowed(read_paths, ctx, paths)
        rule = whole_allow or _allow_rule(bash, sub)
        redirect_writes = [r for r in sub.redirects if r.writes and r.target is not None]
        redirects_ok = _redirects_ok(sub, paths, ctx, mode=mode, by_rule=whole_allow is not None)
        shape_read_only = is_read_only(sub)
        read_only = shape_read_only and reads_inside and _git_ok(sub, paths, cwd)
        if sub.program == "cd":
            landed = paths.cd(sub)
            read_only = read_only and landed is not None and all(inside_any(p, ctx.working_dirs) for p in landed)
        part_ok = redirects_ok
        if rule is not None:
            if rule not in facts.allowed_by:
                facts.allowed_by.append(rule)
        elif read_only and redirect_writes:
            facts.builtin = "mode:acceptEdits" if mode == "acceptEdits" else facts.builtin or "builtin:read-only"
        elif read_only:
            facts.builtin = facts.builtin or "builtin:read-only"
        elif (
            mode == "acceptEdits"
            and sub.program in ACCEPT_EDITS_PROGRAMS
            and sub.safe_env_only
            and writes_inside
            and reads_inside
            and critical is None
        ):
            facts.builtin = "mode:acceptEdits"
        else:
            part_ok = False
        # Plan mode refuses what writes or executes; a read outside the working dirs only asks.
        all_read_only = all_read_only and shape_read_only and not redirect_writes
        if not part_ok:
            all_ok = False
            targets = ", ".join(r.target.raw for r in redirect_writes if r.target is not None)
            note = f" (writes {targets})" if targets and not redirects_ok else ""
            if rule is None and (cause := refusal(sub)):
                note += f" (not read-only: {cause})"
            facts.pending.append(f"{_short(sub.core_text, 80)}{note}")
            if len(facts.suggestions) < _MAX_SUGGESTIONS:
                suggestion = suggest_rule(sub)
                if suggestion not in facts.suggestions:
                    facts.suggestions.append(suggestion)
    facts.complete = all_ok and bool(parsed.subcommands)
    facts.mutates = not all_read_only


def _restrictions(
    sub: SubCommand, facts: Facts, ctx: Context, paths: _Paths
) -> tuple[list[str | None] | None, list[str | None] | None]:
    """Record the first deny/ask rule this part hits (its text, or the files it reads/writes)."""
    bash = ctx.rules.for_tool("Bash")
    texts = sub.deny_texts()
    if facts.deny is None and (hit := bash.command("deny", texts)):
        facts.deny, facts.detail = hit, sub.core_text
    if facts.ask is None and (hit := bash.command("ask", texts)):
        facts.ask, facts.detail = hit, sub.core_text
    eff = effects(sub)
    write_paths = _resolve_all(paths, eff.writes, skip_devices=True)
    read_paths = _resolve_all(paths, eff.reads, skip_devices=True)
    checks = ((ctx.rules.for_tool("Edit"), write_paths, "write"), (ctx.rules.for_tool("Read"), read_paths, "read"))
    for rules, targets, kind in checks:
        resolved = tuple(c for p in (targets or []) if p is not None for c in paths.links(p))
        if not resolved:
            continue
        if facts.deny is None and (hit := rules.path("deny", resolved, every=False)):
            facts.deny, facts.detail = hit, f"{kind} of {resolved[0]} by `{_short(sub.core_text)}`"
        if facts.ask is None and (hit := rules.path("ask", resolved, every=False)):
            facts.ask, facts.detail = hit, f"{kind} of {resolved[0]} by `{_short(sub.core_text)}`"
    return write_paths, read_paths


def _allow_rule(rules: ToolRules, sub: SubCommand) -> CompiledRule | None:
    """Exec wrappers and `find -exec/-delete` can only be approved by an exact rule (reference §2.3)."""
    return rules.command("allow", (sub.allow_text(),), exact_only=sub.prefix_rules_blocked)


def _reads_allowed(read_paths: list[str | None] | None, ctx: Context, paths: _Paths) -> bool:
    """Every path a read-only command reads is inside the working directories or under a Read allow rule."""
    if read_paths is None or None in read_paths:
        return False
    candidates = [c for p in read_paths if p is not None for c in paths.links(p)]
    outside = tuple(c for c in candidates if not inside_any(c, ctx.working_dirs))
    if not outside:
        return True
    return ctx.rules.for_tool("Read").path("allow", outside, every=True) is not None


def _resolve_all(paths: _Paths, words: tuple[Word, ...], *, skip_devices: bool) -> list[str | None] | None:
    """Resolved paths; a None entry is an unknowable path. Returns None if any cwd-relative path is unknowable."""
    out: list[str | None] = []
    for word in words:
        if skip_devices and word.value in _DEVICE_SINKS:
            continue
        resolved = paths.resolve(word)
        if resolved is None:
            out.append(None)
        else:
            out.extend(resolved)
    return out


def _redirects_ok(sub: SubCommand, paths: _Paths, ctx: Context, *, mode: str, by_rule: bool) -> bool:
    """A write redirect is fine when an Edit allow rule covers it, or it stays inside the working
    directories and the mode accepts edits or a bare `Bash` allow rule approved the command. A specific Bash rule
    does not approve the write: observed with Claude Code 2.1.331 (`Bash(echo *)` / `Bash(echo:*)` + `echo x > f`
    inside cwd → "Output redirection ... needs approval"; bare `Bash` → runs)."""
    edit = ctx.rules.for_tool("Edit")
    whole_edit = any(r.whole_tool for r in edit.allow)
    for redirect in sub.redirects:
        if not redirect.writes or redirect.target is None or redirect.target.value in _DEVICE_SINKS:
            continue
        target = redirect.target
        if target.tilde or target.glob or target.expands:
            return False  # reference §2.3: `~` targets and globs always need approval
        resolved = paths.resolve(target)
        if resolved is None:
            return False
        candidates = tuple(c for p in resolved for c in paths.links(p))
        if any(is_protected(c) for c in candidates):
            return False
        if whole_edit or edit.path("allow", candidates, every=True):
            continue
        inside = all(inside_any(c, ctx.working_dirs) for c in candidates)
        if not (inside and (by_rule or mode in ("acceptEdits", "bypassPermissions"))):
            return False
    return True


def _git_ok(sub: SubCommand, paths: _Paths, cwd: str) -> bool:
    """git after a cd elsewhere (or `git -C dir`) may run that directory's hooks: not read-only."""
    if sub.program != "git":
        return True
    if paths.cwds is None or paths.cwds != {cwd}:
        return False
    flag = git_dir_flag(sub)
    if flag is None:
        return True
    resolved = paths.resolve(flag)
    return resolved is not None and all(p == cwd for p in resolved)


def suggest_rule(sub: SubCommand) -> str:
    """The rule an "always allow" would save for this part: `Bash(<command> <subcommand> *)`."""
    words = sub.words[sub.core :]
    if not words or sub.prefix_rules_blocked or any(w.expands for w in words[:2]):
        return f"Bash({sub.core_text})"
    values = [w.raw for w in words]
    if values[0] in _RUNNERS and len(values) >= 3 and values[1] in ("run", "run-script", "exec"):
        prefix = values[:3]
    elif len(values) >= 2 and not values[1].startswith("-") and "/" not in values[1] and "." not in values[1]:
        prefix = values[:2]
    else:
        prefix = values[:1]
    return f"Bash({' '.join(prefix)} *)"
