"""What a simple Bash command does: read-only or not, which paths it reads or writes, critical removals.

The read-only set follows reference §2.3 (`ls`, `cat`, `echo`, `pwd`, `head`, `tail`, `grep`, `find`, `wc`,
`which`, `diff`, `stat`, `du`, `cd`, read-only `git` and `docker` forms, ...). It is not configurable;
ask/deny rules override it.
"""

from __future__ import annotations

import os.path
from dataclasses import dataclass
from functools import lru_cache

from .bash import SubCommand, Word

# Every positional argument is a path the command reads.
_PATH_READERS = frozenset(
    {
        "cat",
        "head",
        "tail",
        "wc",
        "stat",
        "du",
        "ls",
        "tree",
        "diff",
        "cmp",
        "comm",
        "nl",
        "uniq",
        "cut",
        "md5sum",
        "sha1sum",
        "sha256sum",
        "sha512sum",
        "strings",
        "file",
        "readlink",
        "realpath",
        "less",
        "more",
        "od",
        "xxd",
        "hexdump",
        "sort",
        "column",
    }
)
# The first positional is a pattern/program, the rest are paths.
_PATTERN_READERS = frozenset({"grep", "egrep", "fgrep", "rg", "jq", "sed", "awk"})
# No filesystem access worth checking.
_PURE = frozenset(
    {
        "echo",
        "printf",
        "pwd",
        "which",
        "type",
        "whoami",
        "id",
        "uname",
        "true",
        "false",
        "test",
        "[",
        "basename",
        "dirname",
        "printenv",
        "locale",
        "nproc",
        "arch",
        "uptime",
        "tr",
        "seq",
        "sleep",
    }
)
_GIT_READ_ONLY = frozenset(
    {
        "status",
        "diff",
        "log",
        "show",
        "blame",
        "shortlog",
        "describe",
        "rev-parse",
        "rev-list",
        "ls-files",
        "ls-tree",
        "cat-file",
        "grep",
        "merge-base",
        "name-rev",
        "for-each-ref",
        "show-ref",
        "count-objects",
        "check-ignore",
        "check-attr",
        "whatchanged",
        "version",
        "var",
    }
)
_GIT_WRITE_FLAGS = ("--output", "--ext-diff", "-O", "--open-files-in-pager", "--exec")
_DOCKER_READ_ONLY = frozenset({"ps", "images", "logs", "inspect", "version", "info", "top", "port", "history", "diff"})
_DOCKER_DAEMON_FLAGS = ("-H", "--host", "--context", "-c", "--url", "--connection")
# Glob arguments could expand into a flag like -delete for these (reference §2.3 caveats).
_GLOB_SENSITIVE = frozenset({"find", "sort", "sed", "git"})
# acceptEdits auto-approves these filesystem commands inside the working directories (reference §2.6).
ACCEPT_EDITS_PROGRAMS = frozenset({"mkdir", "touch", "rm", "rmdir", "mv", "cp", "sed"})
_WRITERS = ACCEPT_EDITS_PROGRAMS | {"tee", "ln", "chmod", "chown", "truncate", "install", "dd", "shred", "unlink"}


@dataclass(frozen=True, slots=True)
class Effects:
    """Paths a subcommand touches; `None` entries are paths the analysis cannot know (variables, globs under ~)."""

    reads: tuple[Word, ...] = ()
    writes: tuple[Word, ...] = ()


def _positionals(args: tuple[Word, ...]) -> list[Word]:
    out: list[Word] = []
    after_dashdash = False
    for a in args:
        if not after_dashdash and a.value == "--":
            after_dashdash = True
            continue
        if a.raw.startswith(("<(", ">(")) and a.raw.endswith(")"):
            continue  # process substitution: a pipe, not a file (its command is checked on its own)
        if after_dashdash or not a.value.startswith("-") or a.value == "-":
            out.append(a)
    return out


@lru_cache(maxsize=4096)
def effects(sub: SubCommand) -> Effects:
    """Best-effort file effects of the recognised file commands (others: only their redirects)."""
    prog, args = sub.program, sub.args
    reads: list[Word] = [r.target for r in sub.redirects if r.target is not None and r.op == "<"]
    writes: list[Word] = [r.target for r in sub.redirects if r.target is not None and r.writes]
    pos = [p for p in _positionals(args) if p.value != "-"]
    if prog in _PATH_READERS:
        reads.extend(pos)
    elif prog in _PATTERN_READERS:
        has_e = any(a.value in ("-e", "-f", "--regexp", "--file") for a in args)
        paths = pos if has_e else pos[1:]
        if prog == "sed" and _sed_in_place(args):
            writes.extend(paths)
        else:
            reads.extend(paths)
    elif prog == "find":
        for a in args:
            if a.value.startswith(("-", "(", "!")):
                break
            reads.append(a)
    elif prog in ("rm", "rmdir", "mkdir", "touch", "tee", "truncate", "shred", "unlink", "chmod", "chown"):
        targets = pos[1:] if prog in ("chmod", "chown") else pos
        writes.extend(targets)
    elif prog in ("cp", "mv", "ln", "install"):
        if pos:
            reads.extend(pos[:-1])
            writes.append(pos[-1])
            if prog == "mv":
                writes.extend(pos[:-1])
    return Effects(tuple(reads), tuple(writes))


def _sed_in_place(args: tuple[Word, ...]) -> bool:
    for a in args:
        v = a.value
        if v.startswith("--in-place") or (v.startswith("-") and not v.startswith("--") and "i" in v[1:]):
            return True
    return False


@lru_cache(maxsize=4096)
def is_read_only(sub: SubCommand) -> bool:
    """The command's shape is in the built-in read-only set. Paths are checked by the caller."""
    prog, args = sub.program, sub.args
    if not prog or any(w.expands for w in sub.words[: sub.core + 1]):
        return False
    if prog in _GLOB_SENSITIVE and any(a.glob for a in args):
        return False
    if prog in _PURE or prog in ("cd",):
        return prog != "printf" or all(not a.value.startswith("-v") for a in args)
    if prog in _PATH_READERS:
        if prog == "sort" and any(a.value.startswith(("-o", "--output")) for a in args):
            return False
        if prog == "uniq" and len(_positionals(args)) > 1:
            return False
        if prog == "xxd" and (len(_positionals(args)) > 1 or any(a.value == "-r" for a in args)):
            return False
        if prog == "file" and any(a.value in ("-m", "--magic-file", "-f", "--files-from") for a in args):
            return False
        return prog not in ("less", "more")
    if prog in ("grep", "egrep", "fgrep", "rg", "jq"):
        return not any(a.value.startswith(("--pre", "-z")) and prog == "rg" for a in args)
    if prog == "sed":
        return _sed_print_only(args)
    if prog == "find":
        return not any(
            a.value in ("-exec", "-execdir", "-ok", "-okdir", "-delete")
            or a.value.startswith("-fprint")
            or a.value == "-fls"
            for a in args
        )
    if prog == "git":
        return _git_read_only(args)
    if prog == "docker":
        return _docker_read_only(args)
    if prog == "command":
        return bool(args) and args[0].value in ("-v", "-V")
    if prog in ("env", "hostname", "date"):
        return not args or (prog == "date" and not any(a.value.startswith(("-s", "--set")) for a in args))
    return False


def _sed_print_only(args: tuple[Word, ...]) -> bool:
    flags = [a.value for a in args if a.value.startswith("-")]
    if "-n" not in flags or any(f not in ("-n", "-E", "-r", "--quiet", "--silent") for f in flags):
        return False
    pos = _positionals(args)
    if not pos:
        return False
    script = pos[0].value
    return all(c.isdigit() or c in ",p$" for c in script) and script.endswith("p")


def _git_read_only(args: tuple[Word, ...]) -> bool:
    i = 0
    while i < len(args) and args[i].value.startswith("-"):
        flag = args[i].value
        if flag in ("-c", "--exec-path") or flag.startswith(("--config-env", "--exec-path=")):
            return False  # `-c core.fsmonitor=...` makes git run a program
        i += 2 if flag in ("-C", "--git-dir", "--work-tree", "--namespace") else 1
    if i >= len(args):
        return False
    sub, rest = args[i].value, args[i + 1 :]
    if any(r.value.startswith(_GIT_WRITE_FLAGS) for r in rest):
        return False
    values = [r.value for r in rest]
    if sub in _GIT_READ_ONLY:
        return True
    if sub == "branch":
        listing = {"-a", "-r", "-v", "-vv", "--list", "-l", "--show-current", "--all", "--remotes", "--verbose"}
        return all(
            v in listing or v.startswith(("--contains", "--merged", "--no-merged", "--format", "--sort"))
            for v in values
            if v.startswith("-")
        ) and (not [v for v in values if not v.startswith("-")] or "--list" in values or "-l" in values)
    if sub == "tag":
        return not values or values[0] in ("-l", "--list", "-n")
    if sub == "remote":
        return not values or values[0] in ("-v", "--verbose", "show", "get-url")
    if sub == "stash":
        return bool(values) and values[0] in ("list", "show")
    if sub == "config":
        return bool(values) and values[0] in ("--get", "--get-all", "--get-regexp", "--list", "-l")
    if sub == "reflog":
        return not values or values[0] == "show"
    return False


def _docker_read_only(args: tuple[Word, ...]) -> bool:
    if any(a.value.startswith(_DOCKER_DAEMON_FLAGS) for a in args):
        return False
    pos = [a.value for a in args if not a.value.startswith("-")]
    return bool(pos) and pos[0] in _DOCKER_READ_ONLY


def git_dir_flag(sub: SubCommand) -> Word | None:
    """`git -C DIR`: the directory git will run in (its hooks run there)."""
    args = sub.args
    for i, a in enumerate(args[:-1]):
        if a.value == "-C":
            return args[i + 1]
        if not a.value.startswith("-"):
            break
    return None


def critical_removal(sub: SubCommand, *, cwd: str, home: str, working_dirs: tuple[str, ...]) -> str | None:
    """The critical target of an `rm`/`rmdir`, if any (reference §2.7), else None."""
    if sub.program.rsplit("/", 1)[-1] not in ("rm", "rmdir"):
        return None
    for target in _positionals(sub.args):
        raw = target.raw
        if target.expands and (target.glob or raw.rstrip("\"'").endswith("/")) and ":?" not in raw:
            return raw  # `rm -rf "$DIR"/*` removes from / when DIR is empty
        value = target.value
        if target.tilde:
            value = home + value[1:]
        for var in ("${HOME}", "$HOME"):
            if value.startswith(var):
                value = home + value[len(var) :]
        is_glob = target.glob
        base = value.split("*", 1)[0].split("?", 1)[0].split("[", 1)[0] if is_glob else value
        path = os.path.normpath(os.path.join(cwd, base or "."))
        if path == "/" or os.path.dirname(path) == "/" or path == os.path.normpath(home):
            return raw
        for wd in working_dirs:
            if path == wd or wd.startswith(path.rstrip("/") + "/"):
                if wd == working_dirs[0] or is_glob:
                    return raw
    return None


def writes_files(sub: SubCommand) -> bool:
    return sub.program in _WRITERS
