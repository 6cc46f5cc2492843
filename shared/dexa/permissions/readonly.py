"""The built-in read-only Bash set, as data: which programs run without a prompt, and which of their options
would make them run code, write a file or change configuration.

A command is read-only only if its program is in `READ_ONLY` and none of its words trips that program's
`Danger`. Anything the source cannot show is treated as dangerous for a program that has a `Danger` at all:
a glob, a brace expansion or a `$(...)` may turn into `--compress-program=sh` at run time. So are leading
`VAR=value` assignments (`PAGER`, `GIT_*`, `LD_PRELOAD` change what runs) and wrappers (`timeout`, `nice`,
`nohup`, `stdbuf`, `command`, `builtin`, `noglob`, `xargs`, `time`): these need an allow rule.

Option matching is deliberately loose, so an unusual spelling asks rather than runs:
  - long options match any prefix of a dangerous name (GNU getopt and git accept `--compress-prog=sh`);
  - short letters match anywhere in a cluster or with a glued value (`-ro out`, `-oFILE`);
  - every word is checked, options after operands included (GNU getopt permutes them).
Paths the command reads are checked by the caller (`shell.py`) against the working directories.

Decided here (keep this list current):
  - `awk`, `less`, `more`, `man`, `xargs`, `env CMD`, `exec`, `eval` are never read-only: their programs or
    prompts can run anything (`system()`, `!cmd`, `LESSOPEN`), and telling the harmless uses apart is brittle.
  - Reading is fine: `grep -f`, `diff --to-file`, `sort --files0-from`, `jq --rawfile` (its file is checked
    like any read path). `file -m` still asks, as the reference lists it among the prompting forms.
  - `test -v`/`[ -v ]` (and `-R`) ask: bash evaluates an array subscript in the name, `$(...)` included.
  - git: `--no-index` and `blame --contents` read files outside the repository the analysis does not see.
    The read-only git forms still trust the repository's own config (`core.fsmonitor`, `diff.external`,
    textconv drivers), as Claude Code does: `.git/config` must stay out of the agent's reach (sandbox).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from .bash import SubCommand, Word


@dataclass(frozen=True, slots=True)
class Danger:
    """The options (or shapes) that take a program out of the read-only set, and why."""

    why: str
    long: frozenset[str] = frozenset()  # `--name`: any word that abbreviates one of these
    short: str = ""  # letters, inside any single-dash cluster
    words: frozenset[str] = frozenset()  # exact words (find's primaries, test's operators)
    bare: bool = False  # any argument at all makes it act (`env CMD`, `hostname NAME`)
    max_operands: int | None = None  # more operands than this: the extra one is an output file
    takes_value: frozenset[str] = frozenset()  # options whose next word is a value, not an operand
    options_first: bool = False  # options end at the first operand (bash's printf)


def _d(
    why: str,
    *,
    long: str = "",
    short: str = "",
    words: str = "",
    bare: bool = False,
    max_operands: int | None = None,
    takes_value: str = "",
    options_first: bool = False,
) -> Danger:
    """A Danger from space-separated option lists (the table reads better that way)."""
    return Danger(
        why,
        frozenset(long.split()),
        short,
        frozenset(words.split()),
        bare,
        max_operands,
        frozenset(takes_value.split()),
        options_first,
    )


# program -> Danger (None: no form of it runs code or writes). Programs missing here are never read-only.
READ_ONLY: dict[str, Danger | None] = {
    **dict.fromkeys(
        (
            "cat head tail wc stat du ls diff cmp comm nl cut md5sum sha1sum sha256sum sha512sum strings "
            "readlink realpath od hexdump column grep egrep fgrep jq cd echo pwd which type whoami id uname "
            "true false basename dirname printenv locale nproc arch uptime tr seq sleep"
        ).split()
    ),
    "sort": _d(
        "sort runs a --compress-program, writes -o/--output files and temporary files under -T",
        long="--compress-program --output --temporary-directory",
        short="oT",
    ),
    "tree": _d("tree -o writes its listing to a file and -R writes 00Tree.html files", long="--output", short="oR"),
    "file": _d(
        "file -C writes a compiled magic file; -m/-f read files named elsewhere",
        long="--magic-file --files-from --compile",
        short="mfC",
    ),
    "rg": _d(
        "rg runs --pre and --hostname-bin programs, and decompressors for -z/--search-zip",
        long="--pre --pre-glob --search-zip --hostname-bin",
        short="z",
    ),
    "find": _d(
        "find runs -exec/-ok programs, deletes with -delete and writes -fprint/-fls files",
        words="-exec -execdir -ok -okdir -delete -fprint -fprint0 -fprintf -fls",
    ),
    "uniq": _d("uniq writes its second file operand", max_operands=1, takes_value="-f -s -w"),
    "xxd": _d(
        "xxd -r writes binary, and its second file operand is an output file",
        short="r",
        max_operands=1,
        takes_value="-c -g -l -o -s -n -C",
    ),
    "date": _d("date -s/--set changes the clock", long="--set", short="s"),
    "printf": _d("printf -v assigns a shell variable (PATH, say)", short="v", options_first=True),
    "test": _d("test -v/-R evaluates an array subscript, `$(...)` included", words="-v -R"),
    "[": _d("[ -v ] evaluates an array subscript, `$(...)` included", words="-v -R"),
    "hostname": _d("hostname with an argument sets the host name", bare=True),
    "env": _d("env with arguments runs a program", bare=True),
    # These have their own checks (_CHECKS); their Danger makes unknowable words ask and names the cause.
    "sed": _d("only `sed -n` with a script of line numbers and `p` is read-only (e, w, -i run or write)"),
    "git": _d("this git form can run configured programs, write files or read outside the repository"),
    "docker": _d("only docker's listing forms against the default daemon and config are read-only"),
    "command": _d("command runs its argument unless it is a lookup (-v/-V)"),
}

_GIT_DANGER = _d(
    "git writes --output files, runs external diffs, opens a pager for grep -O, or reads outside the repository",
    long="--output --ext-diff --open-files-in-pager --no-index --contents --exec",
    short="O",
)
_DOCKER_DANGER = _d(
    "docker -H/--context/--config talk to another daemon or load another config (credential helpers, plugins)",
    long="--host --context --config --url --connection",
    short="Hc",
)
# git's own options that only change how it reads; anything else (-c, --exec-path, -p, --git-dir...) asks.
_GIT_GLOBAL_SAFE = frozenset(
    (
        "-P --no-pager --no-replace-objects --literal-pathspecs --glob-pathspecs --noglob-pathspecs "
        "--icase-pathspecs --no-optional-locks --no-advice"
    ).split()
)
_GIT_READ_ONLY = frozenset(
    (
        "status diff log show blame shortlog describe rev-parse rev-list ls-files ls-tree cat-file grep merge-base "
        "name-rev for-each-ref show-ref count-objects check-ignore check-attr whatchanged version var"
    ).split()
)
_GIT_CONFIG_MODES = frozenset("--get --get-all --get-regexp --get-urlmatch --list -l".split())
_GIT_CONFIG_SAFE = frozenset(
    (
        "--global --local --system --worktree --show-origin --show-scope --name-only -z --null --includes "
        "--no-includes --bool --int --bool-or-int --path --expiry-date"
    ).split()
)
_GIT_CONFIG_SAFE_PREFIXES = ("--type=", "--default=", "--file=", "--blob=")
_LISTING = frozenset("-a -r -v -vv -l --list --show-current --all --remotes --verbose -i --ignore-case".split())
_LISTING_PREFIXES = (
    "--contains",
    "--no-contains",
    "--merged",
    "--no-merged",
    "--format",
    "--sort",
    "--points-at",
    "--column",
    "--no-column",
    "--color",
    "--no-color",
    "--omit-empty",
)
_DOCKER_READ_ONLY = frozenset("ps images logs inspect version info top port history diff".split())


def _is_option(word: Word) -> bool:
    return word.value.startswith("-") and word.value != "-"


def _matches(danger: Danger, value: str) -> bool:
    if value in danger.words:
        return True
    if value.startswith("--"):
        name = value.split("=", 1)[0]
        return len(name) > 2 and any(d.startswith(name) for d in danger.long)
    return value.startswith("-") and any(c in danger.short for c in value[1:])


def trips(danger: Danger, args: tuple[Word, ...]) -> bool:
    """True when some word is (or may become) one of the dangerous options, or an output operand."""
    if danger.bare:
        return bool(args)
    if danger.options_first:
        if args and args[0].unknowable:
            return True
        leading = [a for a in _leading(args) if a.value != "--"]
        return any(_matches(danger, a.value) for a in leading)
    if any(a.unknowable for a in args):
        return True  # a glob, brace or substitution may expand into a dangerous option or an extra operand
    if any(_matches(danger, a.value) for a in args):
        return True
    return danger.max_operands is not None and _operands(danger, args) > danger.max_operands


def _leading(args: tuple[Word, ...]) -> list[Word]:
    out: list[Word] = []
    for a in args:
        if not _is_option(a):
            break
        out.append(a)
        if a.value == "--":
            break
    return out


def _operands(danger: Danger, args: tuple[Word, ...]) -> int:
    count, skip = 0, False
    for a in args:
        if skip:
            skip = False
        elif a.value in danger.takes_value:
            skip = True
        elif not _is_option(a) and not a.raw.startswith(("<(", ">(")):
            count += 1
    return count


def refusal(sub: SubCommand) -> str | None:
    """None when the command is in the built-in read-only set (its paths are the caller's to check); else why
    not: "" for a program outside the set, or the cause when a read-only program is used in a way that
    runs code, writes or changes configuration."""
    prog, args = sub.program, sub.args
    if not prog or prog not in READ_ONLY or any(w.expands for w in sub.words[: sub.core + 1]):
        return ""
    if sub.assignments:
        names = ", ".join(a.value.split("=", 1)[0] for a in sub.assignments)
        return f"the variable assignment ({names}) can change what {prog} runs"
    if sub.wrapped:
        return f"{prog} runs under a wrapper (`{sub.words[0].value if sub.core else 'time'}`)"
    danger = READ_ONLY[prog]
    if danger is None:
        return None
    if trips(danger, args):
        return danger.why
    check = _CHECKS.get(prog)
    if check is not None and not check(args):
        return danger.why
    return None


@lru_cache(maxsize=4096)
def is_read_only(sub: SubCommand) -> bool:
    """The command's shape is in the built-in read-only set. Paths are checked by the caller."""
    return refusal(sub) is None


def _sed(args: tuple[Word, ...]) -> bool:
    """Only `sed -n 'N,Mp'` style printing: the script can hold nothing but line numbers and `p`."""
    flags = [a.value for a in args if _is_option(a)]
    if "-n" not in flags or any(f not in ("-n", "-E", "-r", "--quiet", "--silent") for f in flags):
        return False
    operands = [a for a in args if not _is_option(a) and a.value != "--"]
    if not operands:
        return False
    script = operands[0].value
    return all(c.isdigit() or c in ",p$" for c in script) and script.endswith("p")


def _git(args: tuple[Word, ...]) -> bool:
    i = 0
    while i < len(args) and _is_option(args[i]):
        flag = args[i].value
        if flag == "-C":
            i += 2  # checked against the working directory by the caller (hooks run there)
        elif flag in _GIT_GLOBAL_SAFE or flag.startswith("--namespace="):
            i += 1
        else:
            return False  # -c, --config-env, --exec-path, -p, --git-dir, --work-tree, --help...
    if i >= len(args):
        return False
    sub, rest = args[i].value, args[i + 1 :]
    if trips(_GIT_DANGER, rest):
        return False
    values = [r.value for r in rest]
    flags = [v for v in values if v.startswith("-")]
    operands = [v for v in values if not v.startswith("-")]
    if sub in _GIT_READ_ONLY:
        return True
    if sub in ("branch", "tag"):
        # Listing flags only; a name creates a branch or tag unless --list says it is a pattern.
        extra = ("-n",) if sub == "tag" else ()
        listing = all(f in _LISTING or f.startswith((*extra, *_LISTING_PREFIXES)) for f in flags)
        return listing and (not operands or "--list" in values or "-l" in values)
    if sub == "remote":
        # `git remote -v add ...` adds a remote: the verbose flag comes before the subcommand.
        after = [v for v in values if v not in ("-v", "--verbose")]
        return not after or after[0] in ("show", "get-url")
    if sub == "stash":
        return bool(values) and values[0] in ("list", "show")
    if sub == "config":
        return _git_config(values)
    if sub == "reflog":
        return not values or values[0] == "show"
    return False


def _git_config(values: list[str]) -> bool:
    """Reads only: one read mode (`--get`, `--list`..., or `get`/`list` first), read-only flags, no value to set."""
    if values and values[0] in ("get", "list"):
        mode, rest = values[0], values[1:]
    else:
        modes = [v for v in values if v in _GIT_CONFIG_MODES]
        if len(modes) != 1:
            return False
        mode = modes[0]
        rest = [v for v in values if v != mode]
    flags = [v for v in rest if v.startswith("-")]
    if not all(f in _GIT_CONFIG_SAFE or f.startswith(_GIT_CONFIG_SAFE_PREFIXES) for f in flags):
        return False
    operands = [v for v in rest if not v.startswith("-")]
    return len(operands) <= (0 if mode in ("--list", "-l", "list") else 2)


def _docker(args: tuple[Word, ...]) -> bool:
    if trips(_DOCKER_DANGER, args):
        return False
    operands = [a.value for a in args if not _is_option(a)]
    return bool(operands) and operands[0] in _DOCKER_READ_ONLY


def _command(args: tuple[Word, ...]) -> bool:
    return bool(args) and args[0].value in ("-v", "-V")


_CHECKS: dict[str, Callable[[tuple[Word, ...]], bool]] = {
    "sed": _sed,
    "git": _git,
    "docker": _docker,
    "command": _command,
}
