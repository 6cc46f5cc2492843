"""Permission modes (reference §2.6): names, validation, the starting mode and the Shift+Tab cycle."""

from __future__ import annotations

from typing import Final, Literal

from dexa.config.settings import EffectiveSettings
from dexa.core.errors import ConfigError

Mode = Literal["default", "acceptEdits", "plan", "bypassPermissions", "dontAsk"]
MODES: Final[tuple[str, ...]] = ("default", "acceptEdits", "plan", "bypassPermissions", "dontAsk")
_ALIASES: Final = {"manual": "default"}

DESCRIPTIONS: Final = {
    "default": "asks before anything that is not read-only or allowed by a rule",
    "acceptEdits": "also accepts file edits and mkdir/touch/rm/rmdir/mv/cp/sed inside the working directories",
    "plan": "read-only: reads and read-only commands run, edits and execution are refused until the plan is approved",
    "bypassPermissions": "allows everything except deny rules, ask rules and critical-path removals",
    "dontAsk": "denies anything that would otherwise need approval",
}


def normalize_mode(mode: str) -> str:
    """Canonical mode name (`manual` -> `default`). Raises ConfigError for anything else (incl. `auto`)."""
    name = _ALIASES.get(mode, mode)
    if name not in MODES:
        hint = " (auto mode needs Claude Code's classifier; Dexa does not offer it)" if name == "auto" else ""
        raise ConfigError(f"unknown permission mode {mode!r}; expected one of {', '.join(MODES)}{hint}")
    return name


def check_mode(mode: str, settings: EffectiveSettings) -> str:
    """Validate a requested mode against policy. bypassPermissions is refused when a layer disables it."""
    name = normalize_mode(mode)
    if name == "bypassPermissions" and settings.disable_bypass_permissions_mode:
        raise ConfigError('bypassPermissions mode is disabled by permissions.disableBypassPermissionsMode="disable"')
    return name


def initial_mode(settings: EffectiveSettings, requested: str | None = None) -> str:
    """The mode a session starts in: the flag, else `permissions.defaultMode`, else `default`."""
    return check_mode(requested or settings.default_mode or "default", settings)


def cycle_mode(current: str, *, bypass_allowed: bool) -> str:
    """Shift+Tab: default -> acceptEdits -> plan -> [bypassPermissions] -> default.

    bypassPermissions joins the cycle only when the session started with it available (and policy allows it);
    dontAsk is never in the cycle, so leaving it goes back to default.
    """
    order = ["default", "acceptEdits", "plan"] + (["bypassPermissions"] if bypass_allowed else [])
    name = normalize_mode(current)
    if name not in order:
        return "default"
    return order[(order.index(name) + 1) % len(order)]
