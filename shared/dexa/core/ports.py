"""Ports: the Protocols adapters implement. Core code depends only on these."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from .events import Event
from .messages import Message, Usage
from .session import Approval, Session, ToolRecord

# ---------------------------------------------------------------- model


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolSpec:
    name: str
    description: str
    input_schema: dict[str, Any]
    # Server tools (web search) are declared by type, not schema.
    server_type: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelRequest:
    model: str
    system: str
    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...] = ()
    max_tokens: int = 8192
    thinking_budget: int | None = None
    # Id of the message this call will produce: lets scripted/fake models and retries stay idempotent.
    response_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamDelta:
    kind: Literal["text", "thinking", "tool_input", "retry"]
    text: str = ""
    index: int = 0
    data: dict[str, Any] = field(default_factory=dict[str, Any])


DeltaSink = Callable[[StreamDelta], Awaitable[None]]


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelResponse:
    message: Message
    usage: Usage
    model: str
    duration_ms: int = 0


class Model(Protocol):
    """A chat model. Raises ModelError subclasses; never vendor exceptions."""

    name: str

    async def complete(self, request: ModelRequest, on_delta: DeltaSink | None = None) -> ModelResponse: ...


# ---------------------------------------------------------------- storage


class SessionStore(Protocol):
    async def create_session(self, session: Session) -> Session: ...

    async def get_session(self, session_id: str, *, org_id: str | None = None) -> Session:
        """Raises NotFoundError (also when the session belongs to another org)."""
        ...

    async def update_session(self, session: Session, *, expect_version: int | None = None) -> Session:
        """Write and bump `version`. Raises ConflictError when expect_version does not match."""
        ...

    async def list_sessions(self, *, org_id: str, limit: int = 50, cwd: str | None = None) -> list[Session]: ...

    async def delete_session(self, session_id: str) -> None:
        """Remove the session with its events, messages, tool records and approvals (not its key-value entries).
        Only for undoing a session that never became usable (a failed import); a missing session is no error."""
        ...


class EventLog(Protocol):
    async def append_event(self, session_id: str, type: str, data: Mapping[str, Any]) -> Event:
        """Append with the next contiguous seq. Concurrent appenders never share or skip a number."""
        ...

    async def read_events(self, session_id: str, *, after: int = 0, limit: int = 1000) -> list[Event]: ...

    async def last_seq(self, session_id: str) -> int: ...

    async def last_seqs(self, session_ids: Sequence[str]) -> dict[str, int]:
        """last_seq of each session, read together (a page of a session listing): a fixed number of round trips,
        not one per session. Every id asked is a key; a session without events (or unknown) has 0."""
        ...


class MessageStore(Protocol):
    async def put_message(self, session_id: str, message: Message) -> bool:
        """Idempotent on message.id; returns False when it was already stored."""
        ...

    async def list_messages(self, session_id: str, *, include_hidden: bool = False) -> list[Message]: ...

    async def hide_messages_after(self, session_id: str, message_id: str | None) -> int:
        """Rewind: hide (never delete) every message after `message_id` (all when None)."""
        ...

    async def hide_messages(self, session_id: str, message_ids: Sequence[str]) -> int:
        """Compaction: hide the given messages (they stay in the store for audit and rewind)."""
        ...


class ToolRecordStore(Protocol):
    async def put_tool_record(self, record: ToolRecord) -> bool:
        """Insert if absent; returns False when a record with that tool_use_id exists."""
        ...

    async def get_tool_record(self, session_id: str, tool_use_id: str) -> ToolRecord | None: ...

    async def transition_tool(
        self, session_id: str, tool_use_id: str, *, from_status: Sequence[str], to: ToolRecord
    ) -> bool:
        """Conditional write: replace the record only if its status is in from_status."""
        ...

    async def list_tool_records(self, session_id: str, *, turn: int | None = None) -> list[ToolRecord]: ...


class ApprovalStore(Protocol):
    async def put_approval(self, approval: Approval) -> None: ...

    async def get_approval(self, session_id: str, approval_id: str) -> Approval | None: ...

    async def resolve_approval(self, approval: Approval) -> bool:
        """Conditional: pending -> decided exactly once. False if someone else decided first."""
        ...

    async def list_approvals(self, session_id: str, *, status: str | None = None) -> list[Approval]: ...


class KeyValueStore(Protocol):
    """Small typed documents by (namespace, key), scoped by org. Used by feature modules (todos, outputs...)."""

    async def kv_put(self, namespace: str, key: str, value: Mapping[str, Any], *, org_id: str = "") -> None: ...

    async def kv_get(self, namespace: str, key: str, *, org_id: str = "") -> dict[str, Any] | None: ...

    async def kv_list(self, namespace: str, *, prefix: str = "", org_id: str = "") -> list[dict[str, Any]]: ...

    async def kv_delete(self, namespace: str, key: str, *, org_id: str = "") -> None: ...

    async def kv_put_if_absent(
        self, namespace: str, key: str, value: Mapping[str, Any], *, org_id: str = ""
    ) -> bool: ...


class KeyValueLists(Protocol):
    """Many kv_list reads at once, for a page that shows a figure per row (the bytes of each listed session's
    checkpoints). Apart from KeyValueStore so that a small in-memory KeyValueStore need not implement it."""

    async def kv_list_many(
        self, namespace: str, prefixes: Sequence[str], *, org_id: str = ""
    ) -> dict[str, list[dict[str, Any]]]:
        """kv_list(namespace, prefix=p, org_id=org_id) for each p: every prefix asked is a key ([] when none match)."""
        ...


class Store(
    SessionStore, EventLog, MessageStore, ToolRecordStore, ApprovalStore, KeyValueStore, KeyValueLists, Protocol
):
    """Everything the runtime persists. SQLite locally, DynamoDB in the cloud."""


class BlobStore(Protocol):
    async def put_blob(self, data: bytes) -> str:
        """Store content-addressed; returns the sha256 hex digest. Idempotent."""
        ...

    async def get_blob(self, digest: str) -> bytes: ...

    async def has_blob(self, digest: str) -> bool: ...


# ---------------------------------------------------------------- workspace


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecResult:
    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool = False
    cwd: str = ""
    duration_ms: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class BackgroundJob:
    job_id: str
    command: str
    running: bool
    exit_code: int | None
    output: str
    output_offset: int = 0


@runtime_checkable
class Workspace(Protocol):
    """An isolated place where commands run and files live. Paths are absolute inside the workspace."""

    root: str

    @property
    def extra_roots(self) -> tuple[str, ...]: ...

    async def exec(
        self,
        command: str,
        *,
        cwd: str,
        timeout_s: float = 120.0,
        env: Mapping[str, str] | None = None,
        job_id: str | None = None,
        stdin: bytes | None = None,
    ) -> ExecResult:
        """Run a shell command (`stdin` feeds it, else it reads nothing). With job_id the run is journaled so
        `recover(job_id)` can find it after a crash."""
        ...

    async def recover(self, job_id: str, *, wait_s: float = 600.0) -> ExecResult | None:
        """The result of a journaled run that started before a crash, or None when it never started."""
        ...

    async def start_background(self, command: str, *, cwd: str, job_id: str) -> BackgroundJob: ...

    async def poll_background(self, job_id: str, *, since: int = 0, wait_s: float = 0.0) -> BackgroundJob: ...

    async def kill_background(self, job_id: str) -> BackgroundJob: ...

    async def read_bytes(self, path: str) -> bytes: ...

    async def write_bytes(self, path: str, data: bytes) -> None: ...

    async def exists(self, path: str) -> bool: ...

    async def is_dir(self, path: str) -> bool: ...

    async def remove(self, path: str) -> None: ...

    async def walk(self, root: str) -> list[str]:
        """Every regular file under root, absolute paths, unsorted."""
        ...

    async def close(self) -> None: ...


# ---------------------------------------------------------------- permissions and hooks


@dataclass(frozen=True, slots=True, kw_only=True)
class PermissionDecision:
    behavior: Literal["allow", "ask", "deny"]
    rule: str | None = None
    source: str | None = None
    reason: str = ""
    # Rules the client may offer to persist on "always allow".
    suggestions: tuple[str, ...] = ()


class PermissionPolicy(Protocol):
    def decide(self, tool_name: str, tool_input: Mapping[str, Any], *, mode: str, cwd: str) -> PermissionDecision: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class HookOutcome:
    """What a hook event decided. Fields mirror Claude Code's hook JSON output."""

    blocked: bool = False
    reason: str = ""
    permission_decision: Literal["allow", "deny", "ask"] | None = None
    updated_input: dict[str, Any] | None = None
    additional_context: str = ""
    system_message: str = ""
    stop: bool = False
    stop_reason: str = ""
    suppress_output: bool = False


class HookRunner(Protocol):
    async def run(self, event: str, payload: Mapping[str, Any], *, match: str | None = None) -> HookOutcome: ...


class Checkpointer(Protocol):
    async def checkpoint(
        self, session_id: str, *, reason: str, message_id: str | None, tool_use_id: str | None = None
    ) -> str | None:
        """Snapshot the workspace and conversation position; returns the checkpoint id (None when disabled)."""
        ...


class Clock(Protocol):
    def now(self) -> float: ...
