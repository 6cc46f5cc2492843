"""A session as one document: what `dexa pull` takes from a server and `dexa push` gives one.

    format       "dexa.session/1"
    session      title, model, permission mode, portable config, turn count, usage, cost, last result
    messages     the visible conversation (rewound messages stay behind)
    events       the event log, for clients that replay it (the new home's own `session.created` starts it)
    approvals    decided approvals (who allowed what, once or always)
    permissions  {"mode", "session_allow_rules"}: the "always allow for this session" answers, which live only in
                 a running environment, carried as the imported session's allowed tools
    tool_state   the session's tool state (the todo list)
    checkpoints  index documents; `blobs` holds their manifests and the file contents they name
    workspace    dexa.transfer.workspace.WorkspacePack

The importing side treats the document as untrusted input: configuration naming paths or resources of the other
home (settings files, extra directories, MCP config files, integrations, sandbox escapes) is dropped, every blob is
stored by its own content and must hash to the digest it claims, and records are re-keyed to the new session.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from dexa.checkpoints.manifest import HEAD_NS, INDEX_NS, Checkpoint, index_key
from dexa.checkpoints.repository import ORG as CHECKPOINT_ORG
from dexa.checkpoints.repository import CheckpointRepo
from dexa.core.codec import approval_from_dict, approval_to_dict
from dexa.core.errors import ConfigError, ConflictError, NotFoundError, StorageError
from dexa.core.events import EventType
from dexa.core.messages import Message, Usage, message_from_dict, message_to_dict
from dexa.core.ports import BlobStore, Store
from dexa.core.session import Approval, Session, SessionConfig

from .workspace import MAX_PACK_BYTES, WorkspacePack

FORMAT = "dexa.session/1"
TOOL_STATE_NS = "tool_state"
EVENT_PAGE = 1000


def session_allow_rules(approvals: list[dict[str, Any]]) -> list[str]:
    """The rules "always allow" answers added: an approval's suggestions, else its tool name (as the engine does)."""
    rules: list[str] = []
    for a in approvals:
        if a.get("status") == "allowed" and a.get("scope") == "always" and a.get("kind", "tool") == "tool":
            for rule in a.get("suggestions") or [a.get("tool_name")]:
                if isinstance(rule, str) and rule and rule not in rules:
                    rules.append(rule)
    return rules


def portable_config(config: SessionConfig, extra_allow: list[str] | None = None) -> SessionConfig:
    """The part of a session's configuration that means the same on another home."""
    allowed = list(config.allowed_tools)
    for rule in extra_allow or ():
        if rule not in allowed:
            allowed.append(rule)
    return SessionConfig(
        allowed_tools=tuple(allowed),
        disallowed_tools=config.disallowed_tools,
        tools=config.tools,
        append_system_prompt=config.append_system_prompt,
        system_prompt=config.system_prompt,
        max_turns=config.max_turns,
        max_budget_usd=config.max_budget_usd,
        network=config.network,
    )


async def export_session(
    store: Store, blobs: BlobStore | None, session: Session, workspace: WorkspacePack
) -> dict[str, Any]:
    """The document for an idle session (a turn in flight is a ConflictError: its state would be half-written)."""
    if session.turn_state is not None:
        raise ConflictError(
            f"session {session.id} is running a turn; wait for it to finish (or abort it) before moving it",
            code="session_busy",
        )
    messages = [message_to_dict(m) for m in await store.list_messages(session.id)]
    events: list[dict[str, Any]] = []
    after = 0
    while page := await store.read_events(session.id, after=after, limit=EVENT_PAGE):
        events.extend({"type": e.type, "data": e.data, "ts": e.ts} for e in page)
        after = page[-1].seq
    approvals = [approval_to_dict(a) for a in await store.list_approvals(session.id) if a.status != "pending"]
    checkpoints, blob_docs = await _export_checkpoints(store, blobs, session.id)
    return {
        "format": FORMAT,
        "session": {
            "id": session.id,
            "title": session.title,
            "model": session.model,
            "permission_mode": session.permission_mode,
            "cwd": session.cwd,
            "config": portable_config(session.config).to_dict(),
            "turns_completed": session.turns_completed,
            "usage": session.usage.to_dict(),
            "cost_usd": session.cost_usd,
            "result": session.result,
            "created_at": session.created_at,
        },
        "messages": messages,
        "events": events,
        "approvals": approvals,
        "permissions": {"mode": session.permission_mode, "session_allow_rules": session_allow_rules(approvals)},
        "tool_state": await store.kv_get(TOOL_STATE_NS, session.id) or {},
        "checkpoints": checkpoints,
        "blobs": blob_docs,
        "workspace": workspace.to_dict(),
    }


async def _export_checkpoints(
    store: Store, blobs: BlobStore | None, session_id: str
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    if blobs is None:
        return [], {}
    repo = CheckpointRepo(store, blobs)
    docs: list[dict[str, Any]] = []
    wanted: set[str] = set()
    for ckpt in await repo.list(session_id):
        manifest = await repo.manifest(ckpt)
        wanted.add(ckpt.manifest_blob)
        wanted.update(d for d in manifest.delta.files.values() if d)
        docs.append(ckpt.to_dict())
    out: dict[str, str] = {}
    size = 0
    for digest in sorted(wanted):
        try:
            data = await blobs.get_blob(digest)
        except NotFoundError:
            continue  # collected by retention; that checkpoint can no longer restore this file, here or there
        size += len(data)
        if size > MAX_PACK_BYTES:
            raise ConfigError(
                f"session {session_id}'s checkpoints hold more than {MAX_PACK_BYTES // (1024 * 1024)} MiB; "
                "prune them (`dexa checkpoints gc`) before moving the session"
            )
        out[digest] = base64.b64encode(data).decode("ascii")
    return docs, out


@dataclass(frozen=True, slots=True, kw_only=True)
class Incoming:
    """A parsed, checked document, ready to become a session: everything is decoded before anything is written."""

    source_id: str
    title: str
    model: str
    permission_mode: str
    config: SessionConfig
    workspace: WorkspacePack
    messages: tuple[Message, ...]
    events: tuple[tuple[str, dict[str, Any]], ...]
    approvals: tuple[Approval, ...]
    tool_state: dict[str, Any]
    checkpoints: tuple[Checkpoint, ...]
    blobs: dict[str, bytes]
    turns_completed: int
    usage: Usage
    cost_usd: float
    result: str


def parse(doc: Mapping[str, Any]) -> Incoming:
    """Check and decode the document; ConfigError names the first field that is wrong."""
    if doc.get("format") != FORMAT:
        raise ConfigError(f"format: expected {FORMAT!r}, got {str(doc.get('format'))[:60]!r}")
    s = doc.get("session")
    if not isinstance(s, Mapping):
        raise ConfigError("session: missing or not an object")
    perms = doc.get("permissions") or {}
    rules = [str(r) for r in (perms.get("session_allow_rules") or []) if isinstance(r, str)][:200]
    workspace = doc.get("workspace")
    if not isinstance(workspace, Mapping):
        raise ConfigError("workspace: missing or not an object")
    try:
        config = portable_config(SessionConfig.from_dict(dict(s.get("config") or {})), rules)
        messages = tuple(message_from_dict(dict(m)) for m in doc.get("messages") or [])
        usage = Usage.from_dict(s.get("usage") if isinstance(s.get("usage"), dict) else None)
        turns, cost = max(0, int(s.get("turns_completed") or 0)), max(0.0, float(s.get("cost_usd") or 0.0))
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"session or messages: malformed ({exc})") from exc
    events: list[tuple[str, dict[str, Any]]] = []
    for raw in doc.get("events") or []:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("type"), str):
            raise ConfigError("events: every event needs a string `type`")
        data = raw.get("data")
        if raw["type"] != EventType.SESSION_CREATED:  # the new home writes its own when it creates the session
            events.append((raw["type"], dict(data) if isinstance(data, Mapping) else {}))
    approvals: list[Approval] = []
    for raw in doc.get("approvals") or []:
        try:
            approval = approval_from_dict({**dict(raw), "session_id": "-", "task_token": None})
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"approvals: malformed approval ({exc})") from exc
        if approval.status != "pending":
            approvals.append(approval)
    blobs: dict[str, bytes] = {}
    for digest, encoded in dict(doc.get("blobs") or {}).items():
        try:
            data = base64.b64decode(str(encoded), validate=True)
        except ValueError as exc:
            raise ConfigError(f"blobs.{str(digest)[:80]}: not base64 ({exc})") from exc
        # Content-addressed and shared between orgs: a blob must be what its name says.
        if hashlib.sha256(data).hexdigest() != digest:
            raise ConfigError(f"blobs.{str(digest)[:80]}: content does not hash to its digest")
        blobs[digest] = data
    checkpoints: list[Checkpoint] = []
    for raw in doc.get("checkpoints") or []:
        try:
            ckpt = Checkpoint.from_dict({**dict(raw), "session_id": "-"})
        except StorageError as exc:
            raise ConfigError(f"checkpoints: {exc}") from exc
        if ckpt.manifest_blob not in blobs:
            raise ConfigError(f"checkpoints.{ckpt.id}: its manifest blob is not in the document")
        checkpoints.append(ckpt)
    tool_state = doc.get("tool_state")
    return Incoming(
        source_id=str(s.get("id") or ""),
        title=str(s.get("title") or "")[:200],
        model=str(s.get("model") or ""),
        permission_mode=str(perms.get("mode") or s.get("permission_mode") or "default"),
        config=config,
        workspace=WorkspacePack.from_dict(dict(workspace)),
        messages=messages,
        events=tuple(events),
        approvals=tuple(approvals),
        tool_state=dict(tool_state) if isinstance(tool_state, Mapping) else {},
        checkpoints=tuple(checkpoints),
        blobs=blobs,
        turns_completed=turns,
        usage=usage,
        cost_usd=cost,
        result=str(s.get("result") or "")[:100_000],
    )


async def import_session(store: Store, blobs: BlobStore | None, incoming: Incoming, session: Session) -> Session:
    """Fill `session` (just created by the caller, in its org and workspace) with the document's records.
    All or nothing: when any write fails, the session and what was written for it are removed, then the error
    is raised (the caller removes the workspace it materialized)."""
    try:
        return await _fill(store, blobs, incoming, session)
    except BaseException:
        await _discard(store, incoming, session.id)
        raise


async def discard_session(store: Store, incoming: Incoming, session_id: str) -> None:
    """Remove an imported session and its records: the caller failed after import_session succeeded (a remote
    workspace is written after the records, through its port)."""
    await _discard(store, incoming, session_id)


async def _discard(store: Store, incoming: Incoming, session_id: str) -> None:
    # Blobs stay: they are content-addressed, possibly shared, and collected by checkpoint retention.
    await store.kv_delete(TOOL_STATE_NS, session_id)
    for ckpt in incoming.checkpoints:
        await store.kv_delete(INDEX_NS, index_key(session_id, ckpt.seq), org_id=CHECKPOINT_ORG)
    await store.kv_delete(HEAD_NS, session_id, org_id=CHECKPOINT_ORG)
    await store.delete_session(session_id)


async def _fill(store: Store, blobs: BlobStore | None, incoming: Incoming, session: Session) -> Session:
    for message in incoming.messages:
        await store.put_message(session.id, message)
    for type_, data in incoming.events:
        await store.append_event(session.id, type_, data)
    for approval in incoming.approvals:
        await store.put_approval(replace(approval, session_id=session.id))
    if incoming.tool_state:
        await store.kv_put(TOOL_STATE_NS, session.id, incoming.tool_state)
    if blobs is not None:
        for data in incoming.blobs.values():
            await blobs.put_blob(data)
        repo = CheckpointRepo(store, blobs)
        for ckpt in incoming.checkpoints:
            await repo.insert(replace(ckpt, session_id=session.id))
    return await store.update_session(
        replace(
            await store.get_session(session.id),
            turns_completed=incoming.turns_completed,
            usage=incoming.usage,
            cost_usd=incoming.cost_usd,
            result=incoming.result,
        )
    )
