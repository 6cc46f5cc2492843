"""A session's trace rebuilt from its event log: what `dexa trace` prints, for any past session.

The log already carries what a trace needs: every event has its time, a model reply its duration, a hook result
its duration, and the tool, permission and approval events bracket their work. So the tree is derived, not
recorded, and it needs no tracing to have been on. It matches the live OpenTelemetry spans (same names and
attributes) except for the step spans, which exist only live (steps leave no events of their own).

Nesting is by time: each span goes under the innermost earlier span that contains it (a PreToolUse hook inside its
permission decision, an approval wait inside that, everything inside its turn).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dexa.core.events import Event, EventType

TURN_ENDS = (EventType.TURN_COMPLETED, EventType.TURN_FAILED, EventType.TURN_CANCELLED)


@dataclass(slots=True)
class TraceNode:
    name: str
    start: float
    end: float
    attrs: dict[str, Any] = field(default_factory=dict[str, Any])
    children: list[TraceNode] = field(default_factory=list["TraceNode"])

    @property
    def duration(self) -> float:
        return max(0.0, self.end - self.start)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "start": self.start,
            "end": self.end,
            "duration_ms": round(self.duration * 1000, 1),
            "attributes": self.attrs,
            "children": [c.to_dict() for c in self.children],
        }


@dataclass(slots=True)
class _Open:
    """Spans begun by one event and ended by a later one, keyed by what ties them (tool_use_id, approval id)."""

    permissions: dict[str, TraceNode] = field(default_factory=dict[str, TraceNode])
    # The decision being made: it ends at the next event that is not one of its hooks (the log has no
    # "decided" event of its own; an ask, a denial, the next call's request or the run all follow it at once).
    deciding: TraceNode | None = None
    tools: dict[str, TraceNode] = field(default_factory=dict[str, TraceNode])
    approvals: dict[str, TraceNode] = field(default_factory=dict[str, TraceNode])


def build(events: Iterable[Event]) -> list[TraceNode]:
    """One root per turn (and one per output executed outside any turn), children nested by time."""
    flat: list[TraceNode] = []
    turns: list[TraceNode] = []
    turn: TraceNode | None = None
    open_ = _Open()
    last_chat: TraceNode | None = None
    retries = 0
    for ev in events:
        d = ev.data
        if open_.deciding is not None and ev.type != EventType.HOOK:
            open_.deciding.end = ev.ts
            open_.deciding = None
        if ev.type == EventType.TURN_STARTED:
            turn = TraceNode(
                "invoke_agent dexa",
                ev.ts,
                ev.ts,
                {"dexa.turn": d.get("turn"), "dexa.prompt": _short(str(d.get("prompt", "")))},
            )
            turns.append(turn)
            open_ = _Open()
        elif ev.type in TURN_ENDS and turn is not None:
            _end_turn(turn, ev, open_)
            turn = None
        elif ev.type == EventType.MODEL_RETRY:
            retries += 1
        elif ev.type == EventType.MESSAGE_ASSISTANT:
            duration = float(d.get("duration_ms") or 0) / 1000
            last_chat = TraceNode("chat", ev.ts - duration, ev.ts, {"dexa.model.retries": retries})
            retries = 0
            message = d.get("message") or {}
            last_chat.attrs["gen_ai.response.finish_reasons"] = message.get("stop_reason")
            flat.append(last_chat)
        elif ev.type == EventType.USAGE and last_chat is not None:
            _usage(last_chat, d)
            last_chat = None
        else:
            _tool_event(ev, open_, flat)
    for node in (*open_.tools.values(), *open_.approvals.values()):
        node.attrs.setdefault("dexa.unfinished", True)
    if turn is not None:
        turn.attrs["dexa.turn.subtype"] = "in progress"
        turn.end = max([turn.end, *(n.end for n in flat)])
    return _nest(turns, flat)


def _tool_event(ev: Event, open_: _Open, flat: list[TraceNode]) -> None:
    d = ev.data
    tool_use_id = str(d.get("tool_use_id") or "")
    if ev.type == EventType.TOOL_REQUESTED:
        name = str(d.get("name", ""))
        node = TraceNode(f"dexa.permission {name}", ev.ts, ev.ts, {"gen_ai.tool.name": name})
        open_.permissions[tool_use_id] = open_.deciding = node
        flat.append(node)
    elif ev.type == EventType.PERMISSION_REQUIRED:
        node = TraceNode(
            "dexa.approval_wait",
            ev.ts,
            ev.ts,
            {"dexa.approval.kind": d.get("kind"), "gen_ai.tool.name": d.get("tool_name") or None},
        )
        open_.approvals[str(d.get("approval_id", ""))] = node
        flat.append(node)
        permission = open_.permissions.get(tool_use_id)
        if permission is not None:
            permission.attrs.update({"dexa.permission.decision": "ask", **_rule(d)})
    elif ev.type == EventType.PERMISSION_RESOLVED:
        node = open_.approvals.pop(str(d.get("approval_id", "")), None)
        if node is not None:
            node.end = ev.ts
            node.attrs.update({"dexa.approval.decision": d.get("decision"), "dexa.approval.decided_by": d.get("by")})
    elif ev.type == EventType.TOOL_STARTED:
        _decided(open_, tool_use_id, d.get("decision"))
        name = str(d.get("name", ""))
        node = TraceNode(f"execute_tool {name}", ev.ts, ev.ts, {"gen_ai.tool.name": name})
        open_.tools[tool_use_id] = node
        flat.append(node)
    elif ev.type == EventType.TOOL_COMPLETED:
        _decided(open_, tool_use_id, d.get("decision"))
        node = open_.tools.pop(tool_use_id, None)
        raw = d.get("data")
        data: dict[str, Any] = raw if isinstance(raw, dict) else {}
        if node is None:  # denied, or decided elsewhere: it never ran here
            return
        node.end = ev.ts
        node.attrs.update(
            {
                "dexa.tool.status": d.get("status"),
                "dexa.tool.is_error": bool(d.get("is_error")),
                "dexa.tool.exit_code": data.get("exit_code"),
                "dexa.sandbox.duration_ms": data.get("duration_ms"),
            }
        )
    elif ev.type == EventType.HOOK and d.get("duration_ms") is not None:
        duration = float(d.get("duration_ms") or 0) / 1000
        attrs = {"dexa.hook.exit_code": d.get("exit_code"), "dexa.hook.blocked": bool(d.get("blocked"))}
        flat.append(TraceNode(f"dexa.hook {d.get('event', '')}", ev.ts - duration, ev.ts, attrs))
    elif ev.type == EventType.OUTPUT_EXECUTED:
        attrs = {"dexa.output.id": d.get("output_id"), "dexa.output.kind": d.get("kind"), "status": d.get("status")}
        flat.append(TraceNode("dexa.output.execute", ev.ts, ev.ts, attrs))


def _decided(open_: _Open, tool_use_id: str, decision: Any) -> None:
    """The decision a call ran (or was denied) on, carried by tool.started and a denial's tool.completed."""
    node = open_.permissions.pop(tool_use_id, None)
    if node is None or not isinstance(decision, dict):
        return
    decision = dict(decision)  # pyright: ignore[reportUnknownArgumentType]
    node.attrs.setdefault("dexa.permission.decision", decision.get("behavior"))
    for key, value in _rule(decision).items():
        node.attrs.setdefault(key, value)


def _rule(d: dict[str, Any]) -> dict[str, Any]:
    return {"dexa.permission.rule": d.get("rule"), "dexa.permission.source": d.get("source")}


def _usage(chat: TraceNode, d: dict[str, Any]) -> None:
    usage = d.get("usage") or {}
    model = str(d.get("model", ""))
    chat.name = f"chat {model}"
    chat.attrs.update(
        {
            "gen_ai.response.model": model,
            "gen_ai.usage.input_tokens": usage.get("input_tokens", 0),
            "gen_ai.usage.output_tokens": usage.get("output_tokens", 0),
            "gen_ai.usage.cache_read.input_tokens": usage.get("cache_read_input_tokens", 0),
            "gen_ai.usage.cache_creation.input_tokens": usage.get("cache_creation_input_tokens", 0),
            "dexa.cost_usd": d.get("cost_usd", 0.0),
        }
    )


def _end_turn(turn: TraceNode, ev: Event, open_: _Open) -> None:
    d = ev.data
    turn.end = ev.ts
    if ev.type == EventType.TURN_CANCELLED:
        turn.attrs["dexa.turn.subtype"] = "cancelled"
        return
    usage = d.get("usage") or {}
    turn.attrs.update(
        {
            "dexa.turn.subtype": d.get("subtype") or ("success" if ev.type == EventType.TURN_COMPLETED else "error"),
            "dexa.turn.model_calls": d.get("num_turns"),
            "dexa.session.cost_usd": d.get("total_cost_usd"),
            "dexa.session.input_tokens": usage.get("input_tokens"),
            "dexa.session.output_tokens": usage.get("output_tokens"),
            "dexa.error": d.get("error") or None,
        }
    )


def _nest(turns: Sequence[TraceNode], flat: Sequence[TraceNode]) -> list[TraceNode]:
    roots: list[TraceNode] = []
    everything = sorted([*turns, *flat], key=lambda n: (n.start, -n.end))
    stack: list[TraceNode] = []
    for node in everything:
        while stack and not (stack[-1].start <= node.start and node.end <= stack[-1].end):
            stack.pop()
        (stack[-1].children if stack else roots).append(node)
        stack.append(node)
    return roots


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ------------------------------------------------------------------ text


def render(roots: Sequence[TraceNode]) -> str:
    """The tree as text: offset from its root's start, duration, then what matters for each kind of span."""
    lines: list[str] = []
    for root in roots:
        lines.append(_line(root, root.start))
        _render_children(root, root.start, "", lines)
    return "\n".join(lines)


def _render_children(node: TraceNode, origin: float, prefix: str, lines: list[str]) -> None:
    for i, child in enumerate(node.children):
        last = i == len(node.children) - 1
        lines.append(prefix + ("└─ " if last else "├─ ") + _line(child, origin))
        _render_children(child, origin, prefix + ("   " if last else "│  "), lines)


def _line(node: TraceNode, origin: float) -> str:
    a = node.attrs
    parts = [node.name if not a.get("dexa.turn") else f"turn {a['dexa.turn']}", f"+{node.start - origin:.3f}s"]
    parts.append(f"{node.duration:.3f}s")
    if node.name == "invoke_agent dexa":
        parts.append(str(a.get("dexa.turn.subtype", "")))
        if a.get("dexa.session.cost_usd") is not None:
            parts.append(f"session ${float(a['dexa.session.cost_usd']):.6f}")
        if a.get("dexa.prompt"):
            parts.append(repr(a["dexa.prompt"]))
    elif node.name.startswith("chat"):
        parts.append(f"in {a.get('gen_ai.usage.input_tokens', 0)} out {a.get('gen_ai.usage.output_tokens', 0)}")
        parts.append(
            f"cache read {a.get('gen_ai.usage.cache_read.input_tokens', 0)} "
            f"write {a.get('gen_ai.usage.cache_creation.input_tokens', 0)}"
        )
        parts.append(f"${float(a.get('dexa.cost_usd') or 0):.6f}")
        if a.get("dexa.model.retries"):
            n = int(a["dexa.model.retries"])
            parts.append(f"{n} {'retry' if n == 1 else 'retries'}")
    elif node.name.startswith("dexa.permission"):
        rule = a.get("dexa.permission.rule")
        parts.append(
            f"{a.get('dexa.permission.decision', '?')} ({a.get('dexa.permission.source') or 'no source'}"
            + (f", rule {rule})" if rule else ")")
        )
    elif node.name == "dexa.approval_wait":
        parts.append(f"{a.get('dexa.approval.decision') or 'pending'} by {a.get('dexa.approval.decided_by') or '-'}")
    elif node.name.startswith("execute_tool"):
        parts.append(str(a.get("dexa.tool.status", "running")))
        if a.get("dexa.tool.exit_code") is not None:
            parts.append(f"exit {a['dexa.tool.exit_code']}")
        if a.get("dexa.sandbox.duration_ms") is not None:
            parts.append(f"sandbox {a['dexa.sandbox.duration_ms']} ms")
    elif node.name.startswith("dexa.hook"):
        parts.append(f"exit {a.get('dexa.hook.exit_code')}" + (" blocked" if a.get("dexa.hook.blocked") else ""))
    elif node.name == "dexa.output.execute":
        parts.append(f"{a.get('dexa.output.kind')} {a.get('status')}")
    return " · ".join(parts)
