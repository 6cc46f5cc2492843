"""One server's slice of the org's output policy: what its reads, its writes and each of its tools get.

The org document (kv "output_policy"/"org") is the one the staging gate reads; this edits only the server's keys
(`reads[server]`, `integrations[server]`, `tools["server/tool"]`) and leaves every other key as it was, so the API
route and `dexa integrations policy` can never drop what the policy page or another admin set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from dexa.core.errors import ConfigError
from dexa.core.ports import KeyValueStore

from .policy import DECISIONS, POLICY_NAMESPACE, Decision, OutputPolicy

ORG_KEY = "org"


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerPolicy:
    server: str
    # None: no org rule, so the built-in default applies (reads run, writes are staged).
    reads: Decision | None = None
    writes: Decision | None = None
    tools: dict[str, Decision] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"server": self.server, "reads": self.reads, "writes": self.writes, "tools": dict(self.tools)}


def _slice(policy: OutputPolicy, server: str) -> ServerPolicy:
    prefix = f"{server}/"
    return ServerPolicy(
        server=server,
        reads=policy.reads.get(server),
        writes=policy.integrations.get(server),
        tools={k[len(prefix) :]: v for k, v in policy.tools.items() if k.startswith(prefix)},
    )


def _decision(value: str | None, where: str) -> Decision | None:
    if value is not None and value not in DECISIONS:
        raise ConfigError(f"{where} = {value!r}; expected one of {sorted(DECISIONS)} (or null to remove the rule)")
    return cast(Decision | None, value)


async def server_policy(kv: KeyValueStore, org_id: str, server: str) -> ServerPolicy:
    return _slice(OutputPolicy.from_dict(await kv.kv_get(POLICY_NAMESPACE, ORG_KEY, org_id=org_id)), server)


async def set_server_policy(
    kv: KeyValueStore,
    org_id: str,
    server: str,
    changes: Mapping[str, Any],
) -> tuple[ServerPolicy, dict[str, Any]]:
    """Apply `changes` ({"reads": d|None, "writes": d|None, "tools": {tool: d|None}}; a key left out is kept, None
    removes the rule). Returns the server's new slice and the whole stored document. Raises ConfigError."""
    unknown = set(changes) - {"reads", "writes", "tools"}
    if unknown:
        raise ConfigError(f"unknown server policy field(s): {', '.join(sorted(unknown))}")
    doc: dict[str, Any] = dict(await kv.kv_get(POLICY_NAMESPACE, ORG_KEY, org_id=org_id) or {})
    OutputPolicy.from_dict(doc)  # a stored document the gate cannot read is refused, not silently extended

    def put(section: str, key: str, value: str | None, where: str) -> None:
        rules = dict(doc.get(section) or {})
        decision = _decision(value, where)
        if decision is None:
            rules.pop(key, None)
        else:
            rules[key] = decision
        doc[section] = rules

    if "reads" in changes:
        put("reads", server, changes["reads"], "reads")
    if "writes" in changes:
        put("integrations", server, changes["writes"], "writes")
    tools = changes.get("tools") or {}
    if not isinstance(tools, Mapping):
        raise ConfigError("tools must be an object of tool name -> decision")
    for tool, value in tools.items():  # pyright: ignore[reportUnknownVariableType]
        name = str(tool)  # pyright: ignore[reportUnknownArgumentType]
        if not name.strip() or "/" in name:
            raise ConfigError(f"tool name {name!r} must be a tool of {server} (no '/')")
        put("tools", f"{server}/{name}", value, f"tools.{name}")  # pyright: ignore[reportUnknownArgumentType]
    policy = OutputPolicy.from_dict(doc)
    await kv.kv_put(POLICY_NAMESPACE, ORG_KEY, doc, org_id=org_id)
    return _slice(policy, server), doc
