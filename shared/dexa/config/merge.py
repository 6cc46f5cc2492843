"""Per-key merge rules (reference §1.2, §1.5): scalars by precedence, lists pooled, env per variable,
and Dexa's numeric policy knobs capped by the managed value (an org limit can be lowered, never raised)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from dexa.egress.precedence import NetworkProblem, resolve_network

from .settings import DexaSettings, DirEntry, Layer, SettingsProblem

_MODES = ("default", "acceptEdits", "plan", "auto", "dontAsk", "bypassPermissions", "manual")
_DEXA_KEYS = frozenset(
    {"outputPolicy", "network", "budgetUsd", "loopDetection", "maxTurns", "trust", "httpHookEnvVars"}
)


# Which settings scopes make up each output-policy level (problems are reported once, by the whole merge).
_POLICY_LEVELS = {"org": ("managed",), "user": ("cli", "user"), "project": ("project", "local")}


def _get(data: Mapping[str, Any], path: Sequence[str]) -> Any:
    node: Any = data
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def scalar(
    layers: Sequence[Layer],
    path: tuple[str, ...],
    kind: type | tuple[type, ...],
    problems: list[SettingsProblem],
    sources: dict[str, str],
) -> Any:
    """The value from the highest layer that sets `path` with the right type; wrong types are reported."""
    key = ".".join(path)
    for layer in layers:
        value = _get(layer.data, path)
        if value is None:
            continue
        if isinstance(value, bool) and kind is not bool and bool not in (kind if isinstance(kind, tuple) else ()):
            problems.append(SettingsProblem(layer.source, key, f"expected {_name(kind)}, got boolean; ignored"))
            continue
        if not isinstance(value, kind):
            problems.append(SettingsProblem(layer.source, key, f"expected {_name(kind)}, got {_json_type(value)}"))
            continue
        sources[key] = layer.source
        return value
    return None


def merge_mode(layers: Sequence[Layer], *, hosted: bool, problems: list[SettingsProblem]) -> tuple[str | None, str]:
    """`permissions.defaultMode`: the `--permission-mode` flag first, then settings precedence.

    From project/local files `auto` and `bypassPermissions` do not take effect and the session starts in
    default (not in the user file's mode); cloud sessions ignore bypassPermissions/dontAsk from files.
    """
    ordered = sorted(layers, key=lambda layer: 0 if layer.source == "cli" else 1)
    for layer in ordered:
        perms = layer.data.get("permissions")
        value = perms.get("defaultMode") if isinstance(perms, Mapping) else None
        if value is None:
            continue
        key = "permissions.defaultMode"
        if value not in _MODES:
            problems.append(SettingsProblem(layer.source, key, f"unknown mode {value!r}; ignored"))
            continue
        is_file = layer.scope in ("local", "project", "user") or (layer.scope == "cli" and layer.source != "cli")
        if hosted and is_file and value in ("bypassPermissions", "dontAsk"):
            continue
        if layer.scope in ("local", "project") and value in ("auto", "bypassPermissions"):
            problems.append(
                SettingsProblem(
                    layer.source,
                    key,
                    f"{value!r} does not take effect from this file; the session starts in default mode",
                )
            )
            return "default", layer.source
        if value == "auto":
            problems.append(SettingsProblem(layer.source, key, "auto mode is not available in Dexa; using default"))
            return "default", layer.source
        return ("default" if value == "manual" else value), layer.source
    return None, ""


def merge_env(layers: Sequence[Layer], problems: list[SettingsProblem]) -> Mapping[str, str]:
    env: dict[str, str] = {}
    for layer in reversed(layers):  # lowest first, so higher layers overwrite per variable
        raw = layer.data.get("env")
        if raw is None:
            continue
        if not isinstance(raw, Mapping):
            problems.append(SettingsProblem(layer.source, "env", f"expected an object, got {_json_type(raw)}"))
            continue
        for name, value in raw.items():
            if isinstance(value, str):
                env[str(name)] = value
            elif isinstance(value, int | float) and not isinstance(value, bool):
                env[str(name)] = str(value)
            else:
                problems.append(SettingsProblem(layer.source, f"env.{name}", "expected a string; variable skipped"))
    return MappingProxyType(env)


def pooled_dirs(
    layers: Sequence[Layer], *, cwd: str, home: str, trusted: bool, problems: list[SettingsProblem]
) -> list[DirEntry]:
    out: list[DirEntry] = []
    seen: set[str] = set()
    for layer in layers:
        perms = layer.data.get("permissions")
        values = perms.get("additionalDirectories") if isinstance(perms, Mapping) else None
        if values is None:
            continue
        key = "permissions.additionalDirectories"
        if not isinstance(values, list):
            problems.append(SettingsProblem(layer.source, key, "expected a list of paths; key ignored"))
            continue
        if layer.scope == "project" and not trusted:
            problems.append(SettingsProblem(layer.source, key, "this workspace has not been trusted; ignored"))
            continue
        for i, value in enumerate(values):
            if not isinstance(value, str) or not value:
                problems.append(SettingsProblem(layer.source, f"{key}[{i}]", "expected a path string; skipped"))
                continue
            path = home + value[1:] if value == "~" or value.startswith("~/") else value
            path = os.path.normpath(os.path.join(cwd, path))
            if path not in seen:
                seen.add(path)
                out.append(DirEntry(path=path, source=layer.source))
    return out


def merge_dexa(layers: Sequence[Layer], problems: list[SettingsProblem], sources: dict[str, str]) -> DexaSettings:
    valid: list[Layer] = []
    for layer in layers:
        raw = layer.data.get("dexa")
        if raw is None:
            continue
        if not isinstance(raw, Mapping):
            problems.append(SettingsProblem(layer.source, "dexa", f"expected an object, got {_json_type(raw)}"))
            continue
        for unknown in sorted(set(raw) - _DEXA_KEYS):
            problems.append(SettingsProblem(layer.source, f"dexa.{unknown}", "unknown Dexa setting; ignored"))
        valid.append(layer)
    network_problems: list[NetworkProblem] = []
    network = resolve_network(valid, network_problems)
    problems.extend(SettingsProblem(p.file, p.key, p.message) for p in network_problems)
    if network.source:
        sources["dexa.network.level"] = network.source
    return DexaSettings(
        output_policy=MappingProxyType(_deep_merge(valid, ("dexa", "outputPolicy"), problems)),
        output_policy_layers=MappingProxyType(
            {
                level: _deep_merge([x for x in valid if x.scope in scopes], ("dexa", "outputPolicy"), [])
                for level, scopes in _POLICY_LEVELS.items()
            }
        ),
        network=network.policy,
        network_cap=network.cap,
        budget_usd=_capped(valid, ("dexa", "budgetUsd"), (int, float), problems, sources, minimum=0),
        loop_detection_threshold=_capped(
            valid, ("dexa", "loopDetection", "threshold"), int, problems, sources, minimum=2
        ),
        max_turns=_capped(valid, ("dexa", "maxTurns"), int, problems, sources, minimum=1),
    )


def _capped(
    layers: Sequence[Layer],
    path: tuple[str, ...],
    kind: type | tuple[type, ...],
    problems: list[SettingsProblem],
    sources: dict[str, str],
    *,
    minimum: float,
) -> Any:
    checked: list[Layer] = []
    for layer in layers:
        value = _get(layer.data, path)
        if value is not None and not isinstance(value, bool) and isinstance(value, kind) and value < minimum:
            problems.append(SettingsProblem(layer.source, ".".join(path), f"must be at least {minimum}; ignored"))
            continue
        checked.append(layer)
    managed = scalar([x for x in checked if x.scope == "managed"], path, kind, problems, sources)
    others_sources: dict[str, str] = {}
    other = scalar([x for x in checked if x.scope != "managed"], path, kind, problems, others_sources)
    if managed is not None and (other is None or managed <= other):
        return managed
    sources.update(others_sources)
    return other


def _deep_merge(layers: Sequence[Layer], path: tuple[str, ...], problems: list[SettingsProblem]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for layer in reversed(layers):  # lowest first; higher layers overwrite key by key
        value = _get(layer.data, path)
        if value is None:
            continue
        if not isinstance(value, Mapping):
            problems.append(
                SettingsProblem(layer.source, ".".join(path), f"expected an object, got {_json_type(value)}")
            )
            continue
        _merge_into(merged, value)
    return merged


def _merge_into(target: dict[str, Any], value: Mapping[str, Any]) -> None:
    for key, item in value.items():
        if isinstance(item, Mapping) and isinstance(target.get(key), dict):
            _merge_into(target[key], item)
        else:
            target[key] = dict(item) if isinstance(item, Mapping) else item


def _json_type(value: Any) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", int: "number", float: "number"}.get(
        type(value), type(value).__name__
    )


def _name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(dict.fromkeys(_json_type(k()) for k in kinds))
