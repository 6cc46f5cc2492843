"""Scripted agents for the business eval: a correct plan per task, and deliberately wrong variants of it.

A plan is a list of steps; each step reads the tool results the agent has received (from the Messages-API request,
as a model would) and returns the tool calls to make next, or the final answer. The wrong variants are mutations of
a correct plan, so each is wrong in one known way that the graders must catch.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from dexa.testing.history import ToolCall, declared_tools, results, today, tool_calls
from dexa.testing.script import Turn
from dexa.testing.scripted import reply, text, tool_use

Use = tuple[str, dict[str, Any]]
Step = Callable[["Seen"], "list[Use] | str"]
Responder = Callable[[Mapping[str, Any]], Turn | None]

# The calls that change something (a draft and an internal note run directly; the rest are staged).
WRITES = frozenset(
    {
        "create_draft",
        "send_draft",
        "create_event",
        "update_event",
        "respond_to_event",
        "update_deal",
        "create_note",
        "create_task",
        "add_comment",
        "create_ticket",
        "send_message",
        "execute_sql",
    }
)
MUTATIONS = ("lazy", "corrupt", "overreach")


def full_name(short: str) -> str:
    """`crm.update_deal` -> `mcp__crm__update_deal`; built-in tool names pass through."""
    server, dot, tool = short.partition(".")
    return f"mcp__{server}__{tool}" if dot else short


class Seen:
    """What the agent has seen so far: tool results by tool, today's date."""

    def __init__(self, body: Mapping[str, Any]) -> None:
        self.body = body
        self.today: date = today(body)
        self.week: date = self.today - timedelta(days=self.today.weekday())

    def calls(self, short: str) -> list[ToolCall]:
        return results(self.body, full_name(short))

    def data(self, short: str) -> Any:
        """The latest result of a tool, parsed ({} if it returned none)."""
        found = self.calls(short)
        return found[-1].data if found else {}


@dataclass(frozen=True, slots=True)
class Plan:
    """A correct scripted agent for one task."""

    sources: Sequence[str]
    steps: Sequence[Step]

    def turn(self, body: Mapping[str, Any], mutation: str | None = None) -> Turn | None:
        calls = tool_calls(body)
        if calls and calls[-1].is_error:
            return text(f"I stopped: {calls[-1].name} failed: {calls[-1].result[:300]}")
        sources = sorted({*self.sources, *(["crm"] if mutation == "overreach" else [])})
        if "LoadSourceTools" in declared_tools(body) and not results(body, "LoadSourceTools"):
            return reply("Loading the sources this needs.", tool_use("LoadSourceTools", {"sources": sources}))
        assistant = sum(1 for m in body.get("messages") or [] if m.get("role") == "assistant")
        index = assistant - (1 if results(body, "LoadSourceTools") else 0)
        if index >= len(self.steps) + (1 if mutation == "overreach" else 0):
            return None
        if index == len(self.steps):  # overreach: one more write nobody asked for, then the same answer
            return text(str(self.steps[-1](Seen(body))))
        out = self.steps[index](Seen(body))
        if isinstance(out, str):
            if mutation == "overreach":
                return reply("Also noting this on a contact.", _extra_write())
            return text(out)
        uses = [(full_name(n), dict(a)) for n, a in out]
        if mutation == "lazy":
            uses = [u for u in uses if u[0].rsplit("__", 1)[-1] not in WRITES]
            if not uses:
                return text("Done: everything is in order.")
        if mutation == "corrupt":
            uses = _corrupt_first_write(uses)
        return reply("Working on it.", *[tool_use(n, a) for n, a in uses])

    def agent(self, mutation: str | None = None) -> Responder:
        if mutation is not None and mutation not in MUTATIONS:
            raise ValueError(f"unknown mutation {mutation!r}; known: {MUTATIONS}")
        return lambda body: self.turn(body, mutation)


def corrupting(responder: Responder) -> Responder:
    """Any scripted agent, with one argument of its first write in each reply made wrong."""

    def respond(body: Mapping[str, Any]) -> Turn | None:
        turn = responder(body)
        if turn is None or not turn.tool_uses:
            return turn
        uses = _corrupt_first_write([(u.name, dict(u.input)) for u in turn.tool_uses])
        return reply(turn.text, *[tool_use(n, a) for n, a in uses])

    return respond


def _extra_write() -> Turn:
    return tool_use("mcp__crm__create_note", {"contact_id": "c_hooli", "body": "Follow up on everything, urgently."})


def _shift(value: str) -> str:
    return (datetime.fromisoformat(value.replace("Z", "+00:00")) + timedelta(days=1)).isoformat()


def _corrupt(args: dict[str, Any]) -> dict[str, Any]:
    """Change the one argument that matters most, the way a careless agent would get it wrong."""
    a = dict(args)
    if "to" in a:
        a["to"] = ["wrong.person@nowhere.example"]
    elif "ticket_id" in a:
        a["ticket_id"] = "108" if a["ticket_id"] != "108" else "107"
    elif "properties" in a:
        a["properties"] = {
            k: ("closed_lost" if k == "stage" else 1 if k == "amount" else "n/a") for k in a["properties"]
        }
    elif "event_id" in a and "start" not in a and "attendees" not in a:
        a["event_id"] = "ev_umbrella" if a["event_id"] != "ev_umbrella" else "ev_acme"
    elif "start" in a:
        a["start"], a["end"] = _shift(a["start"]), _shift(a["end"])
    elif "attendees" in a:
        a["attendees"] = a["attendees"][:-1]
    elif "contact_id" in a:
        a["contact_id"] = "c_hooli" if a["contact_id"] != "c_hooli" else "c_acme"
    elif "sql" in a:
        a["sql"] = re.sub(r"'([^']*)'", lambda m: f"'{m.group(1)}-x'", a["sql"], count=1)
    elif "channel" in a:
        a["channel"], a["thread_ts"] = "#sales", None
    elif "subject" in a:
        a["subject"] = "TBD"
    return a


def _corrupt_first_write(uses: list[Use]) -> list[Use]:
    out: list[Use] = []
    done = False
    for name, args in uses:
        if not done and name.rsplit("__", 1)[-1] in WRITES:
            out.append((name, _corrupt(args)))
            done = True
        else:
            out.append((name, args))
    return out
