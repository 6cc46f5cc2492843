"""Claude via the Anthropic API or Amazon Bedrock, and the factory that picks one from a model name.

Nothing vendor-specific is imported until `make_model` runs, so importing this package stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping

from dexa.core.errors import ConfigError
from dexa.core.models import SCRIPTED_PREFIX, is_scripted
from dexa.core.ports import Model

_TRUE = frozenset({"1", "true", "yes", "on"})


def make_model(name: str, env: Mapping[str, str]) -> Model:
    """Build the model for `name` (alias, id or `scripted:FILE`).

    `scripted:FILE` -> ScriptedModel replaying FILE; CLAUDE_CODE_USE_BEDROCK=1 -> BedrockModel; otherwise
    AnthropicModel. CLAUDE_CODE_MAX_OUTPUT_TOKENS and MAX_THINKING_TOKENS set output and thinking budgets.

    Raises:
        ConfigError: the script file is unreadable or malformed, or a budget variable is not an integer.
    """
    if is_scripted(name):
        from dexa.testing.scripted import ScriptedModel

        return ScriptedModel.from_file(name[len(SCRIPTED_PREFIX) :])
    max_tokens = _int_env(env, "CLAUDE_CODE_MAX_OUTPUT_TOKENS")
    thinking = _int_env(env, "MAX_THINKING_TOKENS")
    if env.get("CLAUDE_CODE_USE_BEDROCK", "").strip().lower() in _TRUE:
        from .bedrock import BedrockModel

        return BedrockModel(name, env=env, max_tokens=max_tokens, thinking_budget=thinking)
    from .model import AnthropicModel

    return AnthropicModel(name, env=env, max_tokens=max_tokens, thinking_budget=thinking)


def _int_env(env: Mapping[str, str], var: str) -> int | None:
    raw = env.get(var, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{var}={raw!r}: expected an integer number of tokens") from exc
    if value < 0:
        raise ConfigError(f"{var}={raw!r}: must not be negative")
    return value


__all__ = ["make_model"]
