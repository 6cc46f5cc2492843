"""Hierarchical settings, Claude Code compatible: managed/org policy > command line > local > project > user."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dexa.egress.policy import NetworkPolicy

from .settings import DexaSettings, DirEntry, EffectiveSettings, RuleEntry, SettingsProblem

if TYPE_CHECKING:
    from .loader import DEFAULT_MANAGED_PATH, load_settings

__all__ = [
    "DEFAULT_MANAGED_PATH",
    "DexaSettings",
    "DirEntry",
    "EffectiveSettings",
    "NetworkPolicy",
    "RuleEntry",
    "SettingsProblem",
    "load_settings",
]


def __getattr__(name: str) -> Any:
    # The loader imports dexa.hooks and dexa.permissions, which import this package: load it lazily.
    if name in ("load_settings", "DEFAULT_MANAGED_PATH"):
        from . import loader

        return getattr(loader, name)
    raise AttributeError(name)
