"""Lazily loaded memory: subtree CLAUDE.md files and path-matched rules, pulled in when the agent reads a file.

The lead's Read tool calls `MemoryIndex.reminder_for(path, kv, session_id)` (or `on_file_access` when it keeps the
index in memory) and appends the returned `<system-reminder>` to the tool result. What was already loaded is kept
in the key-value store so a resumed session never injects the same file twice.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dexa.core.ports import KeyValueStore

from .files import MemoryFile, MemoryLoad, PendingRule
from .globs import GlobSet
from .loader import MemoryConfig, MemoryReader, is_inside, load_memory
from .render import render_reminder

KV_NAMESPACE = "memory_nested"


def subtree_dirs(cwd: str, path: str) -> list[Path]:
    """Directories strictly below cwd down to the one holding `path` (outer first)."""
    root = os.path.realpath(cwd)
    target = os.path.realpath(path)
    folder = target if os.path.isdir(target) else os.path.dirname(target)
    if folder == root or not is_inside(folder, root):
        return []
    rel = os.path.relpath(folder, root).split(os.sep)
    return [Path(root, *rel[: i + 1]) for i in range(len(rel))]


def rule_matches(rule: PendingRule, path: str) -> bool:
    target = os.path.realpath(path)
    base = os.path.realpath(rule.base_dir)
    if not is_inside(target, base):
        return False
    return GlobSet.compile(rule.globs).matches(os.path.relpath(target, base))


@dataclass(slots=True)
class MemoryIndex:
    """One session's memory: what loaded at start plus what each file access adds."""

    config: MemoryConfig
    startup: MemoryLoad = field(default_factory=MemoryLoad)
    reader: MemoryReader = field(init=False)

    def __post_init__(self) -> None:
        self.reader = MemoryReader(self.config)

    @staticmethod
    def load(config: MemoryConfig) -> MemoryIndex:
        index = MemoryIndex(config)
        index.startup = load_memory(config, index.reader)
        return index

    def fork(self) -> MemoryIndex:
        """A fresh per-session index over the same startup load (lazy loads are tracked per session)."""
        index = MemoryIndex(self.config)
        index.startup = MemoryLoad(
            files=list(self.startup.files),
            pending_rules=list(self.startup.pending_rules),
            problems=list(self.startup.problems),
        )
        index.reader.seen.update(os.path.realpath(f.path) for f in self.startup.files if f.kind != "inline")
        return index

    @property
    def files(self) -> list[MemoryFile]:
        return self.startup.files

    def nested_memory_for(self, path: str) -> list[MemoryFile]:
        """Every lazily loaded file that applies to `path`, whether or not it was injected already (stateless)."""
        scratch = MemoryReader(self.config)
        return self._collect(path, scratch, set())

    def on_file_access(self, path: str) -> list[MemoryFile]:
        """Files that enter the context because the agent touched `path` (each one at most once per session)."""
        loaded = {os.path.realpath(p) for p in self.reader.seen}
        return self._collect(path, self.reader, loaded)

    def _collect(self, path: str, reader: MemoryReader, loaded: set[str]) -> list[MemoryFile]:
        pending = list(self.startup.pending_rules)
        out: list[MemoryFile] = []
        for directory in subtree_dirs(self.config.cwd, path):
            out += reader.load_dir(directory, reason="nested_traversal", pending=pending)
        for rule in pending:
            if os.path.realpath(rule.path) in loaded or not rule_matches(rule, path):
                continue
            out += reader.load_pending(rule)
        # Nested directories may bring their own conditional rules: keep them for later accesses.
        known = {r.path for r in self.startup.pending_rules}
        if reader is self.reader:
            self.startup.pending_rules.extend(r for r in pending if r.path not in known)
        return out

    # ------------------------------------------------------------ durable state

    def to_dict(self) -> dict[str, Any]:
        return {
            "seen": sorted(self.reader.seen),
            "pending": [
                {"path": r.path, "scope": r.scope, "globs": list(r.globs), "base_dir": r.base_dir}
                for r in self.startup.pending_rules
            ],
        }

    def restore(self, data: dict[str, Any]) -> None:
        self.reader.seen.update(str(p) for p in data.get("seen", ()))
        known = {r.path for r in self.startup.pending_rules}
        for raw in data.get("pending", ()):
            if raw["path"] not in known:
                self.startup.pending_rules.append(
                    PendingRule(
                        path=raw["path"], scope=raw["scope"], globs=tuple(raw["globs"]), base_dir=raw["base_dir"]
                    )
                )

    async def reminder_for(self, path: str, kv: KeyValueStore, session_id: str) -> str:
        """Durable `on_file_access`: the `<system-reminder>` to append to the tool result ("" when nothing new)."""
        state = await kv.kv_get(KV_NAMESPACE, session_id)
        if state:
            self.restore(state)
        files = self.on_file_access(path)
        if files:
            await kv.kv_put(KV_NAMESPACE, session_id, self.to_dict())
        return render_reminder(files)
