"""What a simple Bash command touches: the paths it reads or writes, and critical removals.

Whether it is read-only at all is `readonly.py`'s question (the built-in set and its dangerous options).
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
