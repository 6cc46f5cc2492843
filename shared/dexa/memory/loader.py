"""Find and read memory files the way Claude Code does (reference §4).

Load order (broadest first; nothing overrides, later files simply come later in the prompt):
managed `/etc/claude-code/CLAUDE.md` (+ inline `claudeMd`), user `~/.claude/CLAUDE.md` and `~/.claude/rules/`, then
for every directory from the filesystem root down to cwd: `CLAUDE.md`, `.claude/CLAUDE.md`, `.claude/rules/**/*.md`,
`CLAUDE.local.md`. Each file is followed by its `@imports` (depth-first, bounded, each file at most once).

Dexa addition: a directory with `AGENTS.md` and no `CLAUDE.md` contributes its `AGENTS.md` at project scope.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from dexa.config.settings import SettingsProblem

from .files import Kind, LoadReason, MemoryFile, MemoryLoad, PendingRule, Scope
from .frontmatter import FieldReader, split_frontmatter
from .globs import GlobSet
from .markdown import find_imports, strip_html_comments, trim_trailing_punctuation

logger = logging.getLogger(__name__)

DEFAULT_MAX_IMPORT_DEPTH = 4  # Claude Code 2.1.x stops after 4 hops (observed, project and user memory alike)
MANAGED_DIR = "/etc/claude-code"
MAX_FILE_BYTES = 1_000_000


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryConfig:
    cwd: str
    home: str
    managed_dir: str | None = MANAGED_DIR
    # `claudeMd` from managed settings / org policy: inline managed memory.
    managed_text: str = ""
    # Never walk above this directory (a hosted workspace root); None walks to the filesystem root.
    # When set, the workspace is confined too: every non-managed file and @import must resolve (symlinks
    # followed) inside stop_at or ~/.claude, so an org's memory can never pull in a host file or another org's.
    stop_at: str | None = None
    max_import_depth: int = DEFAULT_MAX_IMPORT_DEPTH
    # `claudeMdExcludes`: globs on absolute paths (managed files cannot be excluded).
    excludes: tuple[str, ...] = ()
    # Claude Code asks once per project before a project file may import from outside the working directory.
    allow_external_imports: bool = False
    agents_md_fallback: bool = True


def ancestors(cwd: str, stop_at: str | None) -> list[Path]:
    """Directories from the top (filesystem root or stop_at) down to cwd."""
    here = Path(os.path.abspath(cwd))
    chain = [here, *here.parents]
    if stop_at is not None:
        top = Path(os.path.abspath(stop_at))
        if top in chain:
            chain = chain[: chain.index(top) + 1]
        else:
            chain = [here]
    return list(reversed(chain))


def is_inside(path: str, directory: str) -> bool:
    directory = directory.rstrip("/") or "/"
    return path == directory or path.startswith(directory + "/") or directory == "/"


@dataclass(slots=True)
class MemoryReader:
    """Reads memory files with imports; remembers what it read so a file never enters the context twice."""

    config: MemoryConfig
    seen: set[str] = field(default_factory=set)
    problems: list[SettingsProblem] = field(default_factory=list)
    _excludes: GlobSet = field(init=False)

    _confine: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        self._excludes = GlobSet.compile(self.config.excludes)
        if self.config.stop_at is not None:
            home_claude = os.path.join(self.config.home, ".claude")
            self._confine = (os.path.realpath(self.config.stop_at), os.path.realpath(home_claude))

    def escapes(self, real: str, scope: Scope) -> bool:
        """A confined reader's file that resolves outside the workspace and the org scope (a planted symlink)."""
        return bool(self._confine) and scope != "managed" and not any(is_inside(real, r) for r in self._confine)

    def excluded(self, path: str, scope: Scope) -> bool:
        return scope != "managed" and self._excludes.matches(os.path.abspath(path).lstrip("/"))

    def load(
        self,
        path: str | Path,
        *,
        scope: Scope,
        kind: Kind,
        reason: LoadReason,
        root_dir: str,
        depth: int = 0,
        parent: str | None = None,
        strip_frontmatter: bool = True,
    ) -> list[MemoryFile]:
        """The file and, after it, everything it imports. Missing, excluded or already-read files yield nothing."""
        abspath = os.path.abspath(path)
        real = os.path.realpath(abspath)
        if real in self.seen or not os.path.isfile(real) or self.excluded(abspath, scope):
            return []
        if self.escapes(real, scope):
            self.problems.append(
                SettingsProblem(abspath, "", f"not loaded: it resolves to {real}, outside the workspace and org scope")
            )
            return []
        text = self._read(abspath)
        if text is None:
            return []
        self.seen.add(real)
        body = text
        if strip_frontmatter:
            doc, problem = split_frontmatter(text, file=abspath)
            if doc.has_frontmatter and problem is None:
                body = doc.body
        content = strip_html_comments(body).strip("\n")
        out = [
            MemoryFile(
                path=abspath, scope=scope, content=content, kind=kind, imported_from=parent, depth=depth, reason=reason
            )
        ]
        for target in find_imports(content):
            resolved = self._resolve(target, os.path.dirname(abspath))
            if resolved is None:
                continue
            if depth + 1 > self.config.max_import_depth:
                self.problems.append(
                    SettingsProblem(
                        abspath,
                        f"@{target}",
                        (f"not imported: the import chain is deeper than {self.config.max_import_depth} hops"),
                    )
                )
                continue
            if not self._import_allowed(resolved, scope, root_dir):
                self.problems.append(
                    SettingsProblem(
                        abspath,
                        f"@{target}",
                        (
                            f"not imported: {resolved} is outside the workspace and the org's ~/.claude"
                            if self.escapes(os.path.realpath(resolved), scope)
                            else f"not imported: {resolved} is outside the working directory; project memory may "
                            "only import from outside it after the import is approved"
                        ),
                    )
                )
                continue
            out.extend(
                self.load(
                    resolved,
                    scope=scope,
                    kind="import",
                    reason="include",
                    root_dir=root_dir,
                    depth=depth + 1,
                    parent=abspath,
                )
            )
        return out

    def _read(self, path: str) -> str | None:
        try:
            data = Path(path).read_bytes()[:MAX_FILE_BYTES]
        except OSError as exc:
            self.problems.append(SettingsProblem(path, "", f"cannot read memory file: {exc.strerror or exc}"))
            return None
        if b"\x00" in data:
            return None  # binary files are never imported
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            self.problems.append(SettingsProblem(path, "", "memory file is not valid UTF-8; skipped"))
            return None

    def _resolve(self, target: str, base: str) -> str | None:
        for candidate in (target, trim_trailing_punctuation(target)):
            if candidate.startswith("~/"):
                full = os.path.join(self.config.home, candidate[2:])
            elif candidate.startswith("/"):
                full = candidate
            else:
                full = os.path.join(base, candidate)
            full = os.path.normpath(full)
            if os.path.isfile(full):
                return full
        return None

    def _import_allowed(self, resolved: str, scope: Scope, root_dir: str) -> bool:
        real = os.path.realpath(resolved)
        if self.escapes(real, scope):
            return False
        if scope in ("managed", "user") or self.config.allow_external_imports:
            return True
        roots = (os.path.realpath(self.config.cwd), os.path.realpath(root_dir))
        return any(is_inside(real, r) for r in roots)

    # ------------------------------------------------------------ directories

    def load_dir(self, directory: Path, *, reason: LoadReason, pending: list[PendingRule]) -> list[MemoryFile]:
        """One directory's project and local memory, in Claude Code's order."""
        d = str(directory)
        out: list[MemoryFile] = []
        claude_md = [directory / "CLAUDE.md", directory / ".claude" / "CLAUDE.md"]
        for path in claude_md:
            out += self.load(path, scope="project", kind="claude_md", reason=reason, root_dir=d)
        agents = directory / "AGENTS.md"
        if self.config.agents_md_fallback and not any(p.is_file() for p in claude_md) and agents.is_file():
            out += self.load(agents, scope="project", kind="agents_md", reason=reason, root_dir=d)
        out += self.load_rules(
            directory / ".claude" / "rules", scope="project", base_dir=d, reason=reason, pending=pending
        )
        out += self.load(directory / "CLAUDE.local.md", scope="local", kind="claude_md", reason=reason, root_dir=d)
        return out

    def load_rules(
        self, rules_dir: Path, *, scope: Scope, base_dir: str, reason: LoadReason, pending: list[PendingRule]
    ) -> list[MemoryFile]:
        out: list[MemoryFile] = []
        for path in rule_files(rules_dir):
            if os.path.realpath(path) in self.seen or self.excluded(path, scope):
                continue
            text = self._read(path)
            if text is None:
                continue
            doc, problem = split_frontmatter(text, file=path)
            if problem is not None:
                self.problems.append(problem)
                continue
            reader = FieldReader(doc.meta, file=path)
            globs = reader.items("paths")
            self.problems.extend(reader.problems)
            if reader.problems:
                continue
            # A bare `**` matches everything, so Claude Code loads the rule at session start (`**/*` stays conditional).
            if globs and not all(g.strip() == "**" for g in globs):
                pending.append(PendingRule(path=path, scope=scope, globs=globs, base_dir=base_dir))
                continue
            out += self.load(path, scope=scope, kind="rule", reason=reason, root_dir=base_dir)
        return out

    def load_pending(self, rule: PendingRule) -> list[MemoryFile]:
        files = self.load(rule.path, scope=rule.scope, kind="rule", reason="path_glob_match", root_dir=rule.base_dir)
        if files:
            first = files[0]
            files[0] = MemoryFile(
                path=first.path,
                scope=first.scope,
                content=first.content,
                kind="rule",
                reason="path_glob_match",
                globs=rule.globs,
                base_dir=rule.base_dir,
            )
        return files


def rule_files(rules_dir: Path) -> list[str]:
    """Every `*.md` under a rules directory, sorted, following symlinks without looping."""
    if not rules_dir.is_dir():
        return []
    found: list[str] = []
    visited: set[str] = set()
    for root, dirs, files in os.walk(rules_dir, followlinks=True):
        real = os.path.realpath(root)
        if real in visited:
            dirs[:] = []
            continue
        visited.add(real)
        dirs.sort()
        found.extend(os.path.join(root, f) for f in sorted(files) if f.endswith(".md"))
    return found


def load_memory(config: MemoryConfig, reader: MemoryReader | None = None) -> MemoryLoad:
    """Everything that loads at session start, in order, plus the conditional rules waiting for a matching file."""
    reader = reader or MemoryReader(config)
    result = MemoryLoad()
    home = Path(config.home)
    if config.managed_dir:
        managed = Path(config.managed_dir)
        result.files += reader.load(
            managed / "CLAUDE.md", scope="managed", kind="claude_md", reason="session_start", root_dir=str(managed)
        )
        result.files += reader.load_rules(
            managed / ".claude" / "rules",
            scope="managed",
            base_dir=config.cwd,
            reason="session_start",
            pending=result.pending_rules,
        )
    if config.managed_text.strip():
        result.files.append(
            MemoryFile(
                path="(managed settings: claudeMd)",
                scope="managed",
                content=config.managed_text.strip("\n"),
                kind="inline",
            )
        )
    result.files += reader.load(
        home / ".claude" / "CLAUDE.md",
        scope="user",
        kind="claude_md",
        reason="session_start",
        root_dir=str(home / ".claude"),
    )
    result.files += reader.load_rules(
        home / ".claude" / "rules",
        scope="user",
        base_dir=config.cwd,
        reason="session_start",
        pending=result.pending_rules,
    )
    for directory in ancestors(config.cwd, config.stop_at):
        result.files += reader.load_dir(directory, reason="session_start", pending=result.pending_rules)
    result.problems = list(reader.problems)
    return result
