"""Is an MCP tool call a read or a write? Decided before the call, from what the server declared.

The tool's annotations decide when the server stated any of them (MCP spec defaults fill the rest: readOnlyHint
false, destructiveHint true, openWorldHint true), so a tool that is only marked `destructiveHint: false` is still a
write. Only a tool with no annotations at all (older servers such as the npm Slack server or mcp-server-sqlite) is
judged by its name: it is a read when it has a read verb (`list_tables`, `slack_get_users`) and no write verb
anywhere in it. Anything else, an unknown verb included, is a write, so the fallback can only err towards
staging. A server that lies in its annotations could do anything anyway: staging guards against the model, not
against the server's own code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from dexa.adapters.mcp.gate import ToolHints

Effect = Literal["read", "write"]

READ_VERBS = frozenset(
    {
        "browse", "cat", "count", "describe", "diff", "explain", "fetch", "find", "get", "grep", "head", "history",
        "info", "inspect", "list", "lookup", "ls", "peek", "preview", "read", "retrieve", "search", "show",
        "stat", "status", "summarise", "summarize", "tail", "tree", "view", "whoami",
    }
)  # fmt: skip
WRITE_VERBS = frozenset(
    {
        "add", "append", "apply", "approve", "archive", "assign", "ban", "block", "book", "cancel", "charge",
        "checkout", "clear", "clone", "close", "commit", "copy", "create", "delete", "deploy", "destroy", "disable",
        "drop", "edit", "enable", "erase", "exec", "execute", "follow", "generate", "grant", "import", "init",
        "insert", "invite", "kill", "like", "lock", "mark", "merge", "modify", "move", "mute", "notify", "patch",
        "pay", "pin", "post", "publish", "purge", "push", "put", "react", "refund", "reject", "remove", "rename",
        "reply", "reset", "restart", "restore", "revert", "revoke", "rollback", "run", "save", "schedule", "send",
        "set", "share", "start", "stop", "store", "submit", "subscribe", "sync", "terminate", "transfer", "trigger",
        "unblock", "unfollow", "unlock", "unmute", "unpin", "unsubscribe", "update", "upload", "upsert", "wipe",
        "write",
    }
)  # fmt: skip
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")


@dataclass(frozen=True, slots=True, kw_only=True)
class Classification:
    effect: Effect
    # What decided it, for the policy rule a reviewer sees: "annotation.readOnlyHint", "name.read:list"...
    basis: str

    @property
    def read(self) -> bool:
        return self.effect == "read"


def words(name: str) -> list[str]:
    """`slack_get_users` -> [slack, get, users]; `getFileInfo` -> [get, file, info]."""
    return [w.lower() for w in _WORD.findall(name)]


def classify(tool: str, hints: ToolHints) -> Classification:
    if hints.annotated:
        if hints.read_only:
            return Classification(effect="read", basis="annotation.readOnlyHint")
        return Classification(effect="write", basis="annotation.write")
    parts = words(tool)
    written = next((w for w in parts if w in WRITE_VERBS), None)
    if written is not None:
        return Classification(effect="write", basis=f"name.write:{written}")
    verb = next((w for w in parts if w in READ_VERBS), None)
    if verb is not None:
        return Classification(effect="read", basis=f"name.read:{verb}")
    return Classification(effect="write", basis="name.unrecognised")
