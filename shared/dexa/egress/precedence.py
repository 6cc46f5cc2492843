"""`dexa.network` across settings layers: org > user > project, a project only narrows, the org caps.

The level comes from the highest of org policy, command line and user settings that sets one (else the
default, `none`). Org policy may set `maxLevel`, a ceiling nobody below it can exceed. Files inside the workspace
(`.claude/settings.json`, `.claude/settings.local.json`) are written by whoever controls the repo, so they can
lower the level or shrink the list, never widen it; a widening attempt is narrowed and reported. Denied domains
pool from every layer, since denying only narrows.

Layer keys: `level`, `allowedDomains` (the custom list), `includeDefaults` (custom plus the trusted defaults),
`deniedDomains`, `maxLevel` (org only) and the older `enabled` (true reads as `trusted`, false as `none`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .policy import LEVELS, NetworkPolicy, parse_pattern

_KEYS = frozenset({"level", "enabled", "allowedDomains", "includeDefaults", "deniedDomains", "maxLevel"})
# Scopes whose files live in the workspace: the repo (and so a prompt injection) can write them.
NARROW_ONLY_SCOPES = frozenset({"local", "project"})
_PREFIX = "dexa.network"


class LayerLike(Protocol):
    @property
    def source(self) -> str: ...
    @property
    def scope(self) -> str: ...
    @property
    def data(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True, slots=True)
class NetworkProblem:
    file: str
    key: str
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolvedNetwork:
    policy: NetworkPolicy
    # The org's `maxLevel` ceiling (level full when unset): what a session request may never exceed.
    cap: NetworkPolicy = field(default_factory=lambda: NetworkPolicy(level="full"))
    source: str = ""  # the file whose level was used; "" for the default


@dataclass(slots=True)
class _Parsed:
    policy: NetworkPolicy | None = None
    denied: tuple[str, ...] = ()
    max_level: NetworkPolicy | None = None


def resolve_network(
    layers: Sequence[LayerLike], problems: list[NetworkProblem], *, default: NetworkPolicy | None = None
) -> ResolvedNetwork:
    """The effective policy. `layers` are highest precedence first (managed, cli, local, project, user)."""
    parsed = [(layer, _parse(layer, problems)) for layer in layers]
    base, source = default or NetworkPolicy(), ""
    for layer, p in parsed:
        if layer.scope not in NARROW_ONLY_SCOPES and p.policy is not None:
            base, source = p.policy, layer.source
            break
    cap = next((p.max_level for layer, p in parsed if layer.scope == "managed" and p.max_level), None)
    if cap is not None and not base.within(cap):
        problems.append(
            NetworkProblem(source, f"{_PREFIX}.level", f"{base.describe()} is above the org's maxLevel; capped")
        )
        base = base.narrow(cap)
    for layer, p in reversed(parsed):  # lowest first, so the narrowest file is applied last
        if layer.scope not in NARROW_ONLY_SCOPES or p.policy is None:
            continue
        if not p.policy.within(base):
            problems.append(
                NetworkProblem(
                    layer.source,
                    f"{_PREFIX}.level",
                    f"a project file can only narrow network access: {p.policy.describe()} is wider than "
                    f"{base.describe()} from {source or 'the default'}; narrowed",
                )
            )
        base = base.narrow(p.policy)
    denied = tuple(dict.fromkeys(d for _, p in parsed for d in p.denied))
    base = base.narrow(NetworkPolicy(level="full", denied_domains=denied))
    return ResolvedNetwork(policy=base, cap=cap or NetworkPolicy(level="full"), source=source)


def _parse(layer: LayerLike, problems: list[NetworkProblem]) -> _Parsed:
    dexa = layer.data.get("dexa")
    raw = dexa.get("network") if isinstance(dexa, Mapping) else None
    if raw is None:
        return _Parsed()
    if not isinstance(raw, Mapping):
        problems.append(NetworkProblem(layer.source, _PREFIX, "expected an object; ignored"))
        return _Parsed()
    for unknown in sorted(set(raw) - _KEYS):
        problems.append(NetworkProblem(layer.source, f"{_PREFIX}.{unknown}", "unknown network setting; ignored"))
    out = _Parsed(denied=_patterns(layer, raw, "deniedDomains", problems) or ())
    domains = _patterns(layer, raw, "allowedDomains", problems)
    defaults = raw.get("includeDefaults")
    if defaults is not None and not isinstance(defaults, bool):
        problems.append(NetworkProblem(layer.source, f"{_PREFIX}.includeDefaults", "expected a boolean; ignored"))
        defaults = None
    level = _level(layer, raw, "level", problems)
    enabled = raw.get("enabled")
    if enabled is not None and not isinstance(enabled, bool):
        problems.append(NetworkProblem(layer.source, f"{_PREFIX}.enabled", "expected a boolean; ignored"))
        enabled = None
    if level is None and enabled is False:
        level = "none"
    elif level is None and (enabled is True or defaults):
        level = "custom" if domains else "trusted"
        defaults = True  # `enabled: true` means the trusted defaults; a list alongside adds to them
    elif level is None and domains is not None:
        level = "custom"
    if level == "trusted" and domains:
        level, defaults = "custom", True
    if raw.get("level") in ("none", "full") and domains:
        problems.append(
            NetworkProblem(layer.source, f"{_PREFIX}.allowedDomains", f"has no effect at level {level}; ignored")
        )
    if level is not None:
        out.policy = NetworkPolicy.from_level(level, domains or (), include_defaults=bool(defaults))
    max_level = _level(layer, raw, "maxLevel", problems)
    if max_level is not None and layer.scope != "managed":
        problems.append(NetworkProblem(layer.source, f"{_PREFIX}.maxLevel", "only org policy can set it; ignored"))
    elif max_level is not None:
        out.max_level = NetworkPolicy.from_level(max_level, domains or (), include_defaults=bool(defaults))
    return out


def _level(layer: LayerLike, raw: Mapping[str, Any], key: str, problems: list[NetworkProblem]) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if value not in LEVELS:
        problems.append(
            NetworkProblem(
                layer.source, f"{_PREFIX}.{key}", f"expected one of {', '.join(LEVELS)}, got {value!r}; ignored"
            )
        )
        return None
    return str(value)


def _patterns(
    layer: LayerLike, raw: Mapping[str, Any], key: str, problems: list[NetworkProblem]
) -> tuple[str, ...] | None:
    values = raw.get(key)
    if values is None:
        return None
    if not isinstance(values, list):
        problems.append(NetworkProblem(layer.source, f"{_PREFIX}.{key}", "expected a list of domains; ignored"))
        return None
    out: list[str] = []
    for i, value in enumerate(values):
        try:
            if not isinstance(value, str):
                raise ValueError("expected a domain string")
            out.append(parse_pattern(value))
        except ValueError as exc:
            problems.append(NetworkProblem(layer.source, f"{_PREFIX}.{key}[{i}]", f"{exc}; skipped"))
    return tuple(dict.fromkeys(out))
