"""Model names: Claude Code's aliases, the `[1m]` context suffix, and the plan/exec split.

Pure functions over an env mapping (never `os.environ`), so the same names mean the same models in the CLI,
the API, Lambda tasks and tests. Facts follow Claude Code's model configuration (reference §13).
"""

from __future__ import annotations

from collections.abc import Mapping

DEFAULT_CONTEXT_WINDOW = 200_000
LONG_CONTEXT_WINDOW = 1_000_000
LONG_CONTEXT_SUFFIX = "[1m]"
SCRIPTED_PREFIX = "scripted:"

# What each alias means on the Anthropic API today; ANTHROPIC_DEFAULT_<ALIAS>_MODEL overrides it.
# Observed, not guessed: Claude Code 2.1.331 run against the loopback fake sent exactly these ids.
ALIAS_IDS: dict[str, str] = {
    "sonnet": "claude-sonnet-5-5",
    "opus": "claude-opus-5-5",
    "haiku": "claude-haiku-5-5",
    "fable": "claude-fable-5-2",
}
DEFAULT_ALIAS = "sonnet"

# `<plan>plan` aliases: the first model plans (plan mode), the second executes.
PLAN_ALIASES: dict[str, tuple[str, str]] = {
    "opusplan": ("opus", "sonnet"),
    "sonnetplan": ("sonnet", "haiku"),
}

_ENV_OVERRIDES: dict[str, tuple[str, ...]] = {
    "sonnet": ("ANTHROPIC_DEFAULT_SONNET_MODEL",),
    "opus": ("ANTHROPIC_DEFAULT_OPUS_MODEL",),
    # ANTHROPIC_SMALL_FAST_MODEL is the deprecated spelling; the new variable wins.
    "haiku": ("ANTHROPIC_DEFAULT_HAIKU_MODEL", "ANTHROPIC_SMALL_FAST_MODEL"),
    "fable": ("ANTHROPIC_DEFAULT_FABLE_MODEL",),
}


def split_context_suffix(model: str) -> tuple[str, bool]:
    """Return (name without `[1m]`, whether the 1M-context variant was asked for)."""
    name = model.strip()
    if name.lower().endswith(LONG_CONTEXT_SUFFIX):
        return name[: -len(LONG_CONTEXT_SUFFIX)].strip(), True
    return name, False


def is_scripted(model: str) -> bool:
    return model.startswith(SCRIPTED_PREFIX)


def resolve_model(alias_or_id: str, env: Mapping[str, str]) -> str:
    """Resolve an alias (`sonnet`, `opus[1m]`, `default`, ...) to a model id.

    The `[1m]` suffix is kept on the result so callers can size the context window; adapters strip it with
    `api_model_id` before calling the API. Full ids and `scripted:FILE` names pass through untouched.
    """
    if is_scripted(alias_or_id):
        return alias_or_id
    name, long_context = split_context_suffix(alias_or_id)
    key = name.lower()
    if key in ("", "default"):
        fallback = env.get("ANTHROPIC_DEFAULT_MODEL", "").strip()
        if fallback and fallback.lower() != "default":
            return _with_suffix(resolve_model(fallback, env), long_context)
        key = DEFAULT_ALIAS
    if key == "best":
        key = "fable"
    if key in PLAN_ALIASES:
        # Outside plan mode a plan alias runs its execution model.
        key = PLAN_ALIASES[key][1]
    if key not in ALIAS_IDS:
        return _with_suffix(name, long_context)
    override = _env_override(key, env)
    if override:
        override_name, override_long = split_context_suffix(override)
        return _with_suffix(override_name, long_context or override_long)
    return _with_suffix(ALIAS_IDS[key], long_context)


def plan_and_exec_models(alias: str, env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(model for plan mode, model otherwise). Only `<x>plan` aliases differ; `opusplan[1m]` applies to both."""
    env = env or {}
    name, long_context = split_context_suffix(alias)
    pair = PLAN_ALIASES.get(name.lower())
    if pair is None:
        model = resolve_model(alias, env)
        return model, model
    suffix = LONG_CONTEXT_SUFFIX if long_context else ""
    return resolve_model(pair[0] + suffix, env), resolve_model(pair[1] + suffix, env)


def api_model_id(model: str) -> str:
    """The id to send to the API: `[1m]` is a Claude Code convention the API does not know."""
    return split_context_suffix(model)[0]


def context_window(model_id: str) -> int:
    return LONG_CONTEXT_WINDOW if split_context_suffix(model_id)[1] else DEFAULT_CONTEXT_WINDOW


def _env_override(alias: str, env: Mapping[str, str]) -> str:
    for var in _ENV_OVERRIDES.get(alias, ()):
        value = env.get(var, "").strip()
        if value:
            return value
    return ""


def _with_suffix(model: str, long_context: bool) -> str:
    return model + LONG_CONTEXT_SUFFIX if long_context else model
