"""Memory files: what was loaded, from which scope, and how Claude Code labels each one in the prompt."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Scope = Literal["managed", "user", "project", "local"]
Kind = Literal["claude_md", "rule", "agents_md", "import", "inline"]
LoadReason = Literal["session_start", "nested_traversal", "path_glob_match", "include"]

# Claude Code's memory types, as hooks (`memory_type`) and `/memory` name them.
CLAUDE_TYPES: dict[str, str] = {"managed": "Managed", "user": "User", "project": "Project", "local": "Local"}


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryFile:
    path: str
    scope: Scope
    content: str
    kind: Kind = "claude_md"
    imported_from: str | None = None
    depth: int = 0
    reason: LoadReason = "session_start"
    # Conditional rules (`paths:` frontmatter) apply only to files matching these globs under `base_dir`.
    globs: tuple[str, ...] = ()
    base_dir: str = ""

    @property
    def imported(self) -> bool:
        return self.imported_from is not None

    @property
    def conditional(self) -> bool:
        return bool(self.globs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "scope": self.scope,
            "type": CLAUDE_TYPES[self.scope],
            "kind": self.kind,
            "imported": self.imported,
            "imported_from": self.imported_from,
            "depth": self.depth,
            "reason": self.reason,
            "paths": list(self.globs),
            "chars": len(self.content),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingRule:
    """A `.claude/rules/*.md` file with `paths:` globs: loaded only once a matching file is read."""

    path: str
    scope: Scope
    globs: tuple[str, ...]
    base_dir: str


@dataclass(slots=True, kw_only=True)
class MemoryLoad:
    files: list[MemoryFile] = field(default_factory=list)
    pending_rules: list[PendingRule] = field(default_factory=list)
    problems: list[Any] = field(default_factory=list)
