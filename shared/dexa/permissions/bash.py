"""Bash command analysis: a real shell parse (bashlex) split into simple subcommands, plus Bash rule patterns.

What Claude Code does before matching a Bash rule (reference §2.3) happens here: split on `&&`, `||`, `;`, `|`,
`|&`, `&` and newlines; look inside `( )`, `{ }`, `$( )`, backticks and `<( )`; strip wrappers (`timeout`,
`time`, `nice`, `nohup`, `stdbuf`, `command`, `builtin`, `noglob`, bare `xargs`) and leading `VAR=value`
assignments. Parses are cached (LRU) because the same commands recur all session long.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from . import bashlex_tables

MAX_COMMAND_CHARS = 10_000

# Variables whose leading assignment an *allow* rule may look past (deny/ask rules look past any).
SAFE_ENV_VARS = frozenset(
    {
        "LANG",
        "LANGUAGE",
        "TZ",
        "NO_COLOR",
        "FORCE_COLOR",
        "CLICOLOR",
        "CLICOLOR_FORCE",
        "TERM",
        "COLUMNS",
        "LINES",
        "CI",
        "NODE_ENV",
        "RAILS_ENV",
        "RACK_ENV",
        "DEBUG",
        "RUST_BACKTRACE",
        "RUST_LOG",
        "PYTHONUNBUFFERED",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONWARNINGS",
        "PYTHONHASHSEED",
        "GOOS",
        "GOARCH",
        "CGO_ENABLED",
        "GOFLAGS",
        "PAGER",
        "GIT_PAGER",
        "NPM_CONFIG_COLOR",
        "PYTEST_ADDOPTS",
        "VERBOSE",
    }
)
# Exec wrappers a prefix rule can never approve (reference §2.3): only an exact rule can.
EXEC_WRAPPERS = frozenset({"watch", "setsid", "ionice", "flock"})
_FIND_EXEC_FLAGS = frozenset({"-exec", "-execdir", "-ok", "-okdir", "-delete"})
_ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(\+?=)(.*)$", re.DOTALL)
# `time` is a shell keyword bashlex cannot parse; blank it (same length keeps every position valid).
_TIME_KEYWORD = re.compile(r"(^|[;&|(\n]|&&|\|\|)(\s*)(time(?:\s+-p)?)(?=\s)")
# bashlex can't parse `[[ … ]]`. In command position, and with no substitution inside (the only way it could run
# anything), it is a side-effect-free test: analysed as the builtin `true`, keeping every other offset in place.
_DOUBLE_BRACKET = re.compile(r"(^|[;&|(\n!]|&&|\|\|)(\s*)(\[\[\s.*?\s\]\])(?=\s|[;&|)]|$)")
_SUBSTITUTION = re.compile(r"\$\(|`|<\(|>\(")
_GLOB_CHARS = frozenset("*?[")
# Brace expansion needs a comma or `..` between the braces (`@{u}` and `{}` stay literal).
_BRACE = re.compile(r"\{[^{}]*(,|\.\.)[^{}]*\}")


class BashPattern:
    """A Bash rule specifier: exact, `prefix *`, legacy `prefix:*`, or `*` anywhere (reference §2.3)."""

    __slots__ = ("_bare", "_regex", "exact", "pattern")

    def __init__(self, pattern: str) -> None:
        text = pattern.strip()
        # `:*` is a prefix marker only at the very end; anywhere else the colon is literal.
        if text.endswith(":*"):
            text = text[:-2] + " *"
        self.pattern = text
        self.exact = "*" not in text
        self._regex: re.Pattern[str] | None = None
        self._bare: str | None = None
        if not self.exact:
            self._regex = re.compile("(?s)" + ".*".join(re.escape(p) for p in text.split("*")))
            # A trailing ` *` that is the only wildcard also matches the bare command (`ls *` matches `ls`).
            if text.endswith(" *") and text.count("*") == 1:
                self._bare = text[:-2].rstrip()

    def matches(self, command: str) -> bool:
        if self._regex is None:
            return command == self.pattern
        return self._regex.fullmatch(command) is not None or command == self._bare


@dataclass(frozen=True, slots=True)
class Word:
    raw: str  # as written, quotes included
    value: str  # after quote removal (expansions left as written)
    expands: bool  # contains $..., backticks or a substitution
    glob: bool  # contains an unquoted glob character
    tilde: bool  # starts with an unquoted ~
    # Contains an unquoted brace expansion (`{a,b}`, `{1..3}`): one word in the source, several at run time.
    brace: bool = False

    @property
    def unknowable(self) -> bool:
        """What the program receives cannot be known from the source: it may even be another option."""
        return self.expands or self.glob or self.brace


@dataclass(frozen=True, slots=True)
class Redirect:
    op: str  # '>', '>>', '&>', '>|', '<', '<<<', '<<', '>&' ...
    target: Word | None  # None for fd duplication like 2>&1
    writes: bool


@dataclass(frozen=True, slots=True)
class SubCommand:
    assignments: tuple[Word, ...]
    words: tuple[Word, ...]  # every word after the assignments, wrappers included
    core: int  # index in `words` of the real program once wrappers are stripped
    redirects: tuple[Redirect, ...]
    # Runs in a subshell, a pipeline stage or a substitution, so a `cd` here does not move later parts.
    nested: bool
    # Preceded by the `time` keyword (blanked before parsing, so it is not among `words`).
    timed: bool = False
    # Derived once at parse time (parses are cached, so every later decision reuses them).
    core_text: str = field(init=False, compare=False)
    safe_env_only: bool = field(init=False, compare=False)
    prefix_rules_blocked: bool = field(init=False, compare=False)
    _allow_text: str = field(init=False, compare=False, repr=False)
    _deny_texts: tuple[str, ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        core_words = self.words[self.core :]
        # The command as rules see it: wrappers and env assignments stripped, redirects removed.
        core_text = " ".join(w.raw for w in core_words)
        safe = all(_is_safe_assignment(a) for a in self.assignments)
        program = core_words[0].value if core_words else ""
        blocked = program in EXEC_WRAPPERS or (
            program == "find" and any(a.value in _FIND_EXEC_FLAGS for a in core_words[1:])
        )
        # An allow rule may look past safe env assignments only.
        allow_text = core_text if safe else " ".join(w.raw for w in (*self.assignments, *core_words))
        unstripped = " ".join(w.raw for w in (*self.assignments, *self.words))
        texts = [core_text, " ".join(w.raw for w in self.words), unstripped]
        inner = _strip_exec_wrappers(core_words)
        if inner:
            texts.append(" ".join(w.raw for w in inner))
        object.__setattr__(self, "core_text", core_text)
        object.__setattr__(self, "safe_env_only", safe)
        object.__setattr__(self, "prefix_rules_blocked", blocked)
        object.__setattr__(self, "_allow_text", allow_text)
        object.__setattr__(self, "_deny_texts", tuple(dict.fromkeys(t for t in texts if t)))

    @property
    def program(self) -> str:
        return self.words[self.core].value if self.core < len(self.words) else ""

    @property
    def args(self) -> tuple[Word, ...]:
        return self.words[self.core + 1 :]

    @property
    def wrapped(self) -> bool:
        """The program runs under a wrapper (`timeout`, `nice`, `xargs`, `time`...) that was stripped for rules."""
        return self.core > 0 or self.timed

    def allow_text(self) -> str:
        """What an allow rule must match: it may look past safe env assignments only."""
        return self._allow_text

    def deny_texts(self) -> tuple[str, ...]:
        """Every reading a deny/ask rule is tried against (looks past any assignment and wrapper)."""
        return self._deny_texts


def _is_safe_assignment(word: Word) -> bool:
    m = _ASSIGNMENT.match(word.raw)
    name = m.group(1) if m else ""
    return not word.expands and (name in SAFE_ENV_VARS or name.startswith("LC_"))


@dataclass(frozen=True, slots=True)
class ParsedCommand:
    source: str
    subcommands: tuple[SubCommand, ...] = ()
    # Control flow (if/for/while/case/functions) the analysis does not follow: never auto-approved.
    opaque: bool = False
    error: str | None = None
    # Why the command is opaque when it is not control flow (a here-document that runs substitutions).
    opaque_reason: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None


def _as_true(m: re.Match[str]) -> str:
    test = m.group(3)
    if _SUBSTITUTION.search(test):
        return m.group(0)
    return m.group(1) + m.group(2) + "true".ljust(len(test))


def _bashlex() -> Any:
    """bashlex, imported by the first parse: building its parser costs ~30 ms even from cached tables, and a
    process (a cloud step that only calls the model) may never check a Bash command."""
    bashlex_tables.install()  # before bashlex builds its parse tables at import
    import bashlex  # type: ignore[import-untyped]
    import bashlex.errors  # type: ignore[import-untyped]  # pyright: ignore[reportUnusedImport]

    return bashlex


@lru_cache(maxsize=4096)
def parse_command(command: str) -> ParsedCommand:
    """Parse once per distinct command string; the result is immutable so sharing it is safe."""
    if len(command) > MAX_COMMAND_CHARS:
        return ParsedCommand(command, error=f"command is longer than {MAX_COMMAND_CHARS} characters")
    if not command.strip():
        return ParsedCommand(command, error="empty command")
    analysed = _DOUBLE_BRACKET.sub(_as_true, command)  # same length: every offset still points into `command`
    timed_ends = [m.end(3) for m in _TIME_KEYWORD.finditer(analysed)]
    blanked = _TIME_KEYWORD.sub(lambda m: m.group(1) + m.group(2) + " " * len(m.group(3)), analysed)
    bashlex = _bashlex()
    try:
        trees = bashlex.parse(blanked)
    except (bashlex.errors.ParsingError, NotImplementedError, AttributeError, IndexError, TypeError) as exc:
        return ParsedCommand(command, error=f"unparsable shell syntax: {exc}")
    walker = _Walker(analysed, timed_ends)
    for tree in trees:
        walker.visit(tree, nested=False)
    if not walker.subs and not walker.opaque:
        return ParsedCommand(command, error="no command found")
    return ParsedCommand(command, tuple(walker.subs), walker.opaque, opaque_reason=walker.opaque_reason)


class _Walker:
    def __init__(self, source: str, timed_ends: list[int]) -> None:
        self.source = source
        self.timed_ends = timed_ends
        self.subs: list[SubCommand] = []
        self.opaque = False
        self.opaque_reason = ""

    def visit(self, node: Any, *, nested: bool) -> None:
        kind = node.kind
        if kind == "list":
            for part in node.parts:
                if part.kind != "operator":
                    self.visit(part, nested=nested)
        elif kind == "pipeline":
            stages = [p for p in node.parts if p.kind not in ("pipe", "reservedword")]
            for part in stages:
                self.visit(part, nested=nested or len(stages) > 1)
        elif kind == "command":
            self._command(node, nested=nested)
        elif kind == "compound":
            inner = [p for p in node.list if p.kind != "reservedword"]
            if any(p.kind in ("if", "for", "while", "until", "case", "select") for p in inner):
                self.opaque = True
            elif not self.opaque:
                # Claude Code asks for a subshell `( … )` or a brace group `{ …; }` even when every inner command
                # is allowed or read-only; only a bare `Bash` allow rule approves one.
                self.opaque = True
                self.opaque_reason = "it runs a subshell or brace group, which only a bare `Bash` allow rule approves"
            for part in inner:
                self.visit(part, nested=True)
        elif kind in ("if", "for", "while", "until", "case", "function"):
            self.opaque = True
            for part in getattr(node, "parts", []):
                if part.kind in ("list", "command", "pipeline", "compound"):
                    self.visit(part, nested=True)
        # reservedword / operator / pipe: punctuation only

    def _command(self, node: Any, *, nested: bool) -> None:
        assignments: list[Word] = []
        words: list[Word] = []
        redirects: list[Redirect] = []
        for part in node.parts:
            if part.kind == "assignment" and not words:
                assignments.append(self._word(part))
                self._substitutions(part)
            elif part.kind in ("word", "assignment"):
                words.append(self._word(part))
                self._substitutions(part)
            elif part.kind == "redirect":
                redirects.append(self._redirect(part))
        start = node.pos[0]
        timed = any(end <= start and not self.source[end:start].strip() for end in self.timed_ends)
        self.subs.append(
            SubCommand(
                assignments=tuple(assignments),
                words=tuple(words),
                core=_strip_wrappers(words),
                redirects=tuple(redirects),
                nested=nested,
                timed=timed,
            )
        )

    def _substitutions(self, node: Any) -> None:
        for part in getattr(node, "parts", None) or []:
            if part.kind in ("commandsubstitution", "processsubstitution"):
                self.visit(part.command, nested=True)
            else:
                self._substitutions(part)

    def _word(self, node: Any) -> Word:
        raw = self.source[node.pos[0] : node.pos[1]]
        parts = getattr(node, "parts", None) or []
        expands = any(p.kind in ("parameter", "commandsubstitution", "processsubstitution") for p in parts)
        expands = expands or "$" in _unquoted_chars(raw, keep_double=True) or "`" in raw
        unquoted = _unquoted_chars(raw, keep_double=False)
        return Word(
            raw=raw,
            value=_unquote(raw),
            expands=expands,
            glob=any(c in _GLOB_CHARS for c in unquoted),
            tilde=unquoted.startswith("~") and raw.startswith("~"),
            brace=_BRACE.search(unquoted) is not None,
        )

    def _redirect(self, node: Any) -> Redirect:
        op = node.type
        target = node.output if not isinstance(node.output, int) else None
        word = self._word(target) if target is not None and target.kind == "word" else None
        if word is not None:
            self._substitutions(target)
        # `<>` opens read-write and creates the file.
        writes = op in (">", ">>", "&>", ">|", "&>>", "<>") or (op == ">&" and word is not None)
        heredoc = getattr(node, "heredoc", None)
        if heredoc is not None and word is not None and word.raw == word.value:
            body = self.source[heredoc.pos[0] : heredoc.pos[1]]
            if "$" in body or "`" in body:
                # An unquoted delimiter makes bash expand the body, `$(...)` included; bashlex does not parse it.
                self.opaque = True
                self.opaque_reason = "its here-document expands `$`/backticks in a body the analysis does not parse"
        return Redirect(op=op, target=word, writes=writes)


def _unquote(raw: str) -> str:
    try:
        parts = shlex.split(raw, posix=True)
    except ValueError:
        return raw
    return parts[0] if len(parts) == 1 else raw


def _unquoted_chars(raw: str, *, keep_double: bool) -> str:
    """The characters of `raw` outside quotes (inside double quotes too when keep_double: `$` still expands)."""
    out: list[str] = []
    quote = ""
    escaped = False
    for ch in raw:
        if escaped:
            escaped = False
            continue
        if ch == "\\" and quote != "'":
            escaped = True
            continue
        if quote:
            if ch == quote:
                quote = ""
            elif quote == '"' and keep_double:
                out.append(ch)
            continue
        if ch in "'\"":
            quote = ch
            continue
        out.append(ch)
    return "".join(out)


def _strip_wrappers(words: list[Word]) -> int:
    """Index of the real program after Claude Code's fixed wrapper list (reference §2.3)."""
    i, n = 0, len(words)
    while i < n:
        w = words[i].value
        nxt = words[i + 1].value if i + 1 < n else ""
        if w == "timeout":
            i += 1
            while i < n and words[i].value.startswith("-"):
                takes = words[i].value in ("-s", "-k", "--signal", "--kill-after")
                i += 2 if takes else 1
            i += 1  # the duration
        elif w == "nice":
            i += 1
            if i < n and words[i].value == "-n":
                i += 2
            elif i < n and words[i].value.startswith("-"):
                i += 1
        elif w == "stdbuf":
            i += 1
            while i < n and words[i].value.startswith("-"):
                i += 2 if words[i].value in ("-i", "-o", "-e") else 1
        elif w == "command":
            if nxt in ("-v", "-V"):
                break  # a lookup, not an execution: matched as `command -v ...`
            i += 2 if nxt == "-p" else 1
        elif w in ("nohup", "builtin", "noglob"):
            i += 1
        elif w == "time":
            i += 2 if nxt == "-p" else 1
        elif w == "xargs" and nxt and not nxt.startswith("-"):
            i += 1
        else:
            break
    return min(i, n)


def _strip_exec_wrappers(words: tuple[Word, ...]) -> tuple[Word, ...]:
    """Best-effort inner command of sudo/env/exec/watch/xargs... used only to widen deny/ask matching."""
    i, n = 0, len(words)
    changed = False
    while i < n and words[i].value in ("sudo", "env", "exec", "watch", "setsid", "ionice", "flock", "xargs", "doas"):
        prog = words[i].value
        i += 1
        changed = True
        while i < n and (words[i].value.startswith("-") or (prog == "env" and _ASSIGNMENT.match(words[i].value))):
            i += 1
        if prog == "flock" and i < n:
            i += 1  # the lock file
    return words[i:] if changed and i < n else ()
