from __future__ import annotations

import pytest

from dexa.core.models import api_model_id, context_window, plan_and_exec_models, resolve_model


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("sonnet", "claude-sonnet-5-5"),
        ("opus", "claude-opus-5-5"),
        ("haiku", "claude-haiku-5-5"),
        ("SONNET", "claude-sonnet-5-5"),
        ("", "claude-sonnet-5-5"),
        ("default", "claude-sonnet-5-5"),
        ("best", "claude-fable-5-2"),
        ("opusplan", "claude-sonnet-5-5"),
        ("claude-opus-4-1-20250805", "claude-opus-4-1-20250805"),
        ("sonnet[1m]", "claude-sonnet-5-5[1m]"),
        ("claude-sonnet-4-5[1m]", "claude-sonnet-4-5[1m]"),
        ("scripted:/tmp/demo[1m].json", "scripted:/tmp/demo[1m].json"),
    ],
)
def test_aliases_resolve_to_current_ids(name: str, expected: str) -> None:
    assert resolve_model(name, {}) == expected


def test_env_overrides_what_an_alias_means_and_keeps_the_1m_suffix() -> None:
    env = {
        "ANTHROPIC_DEFAULT_SONNET_MODEL": "claude-sonnet-4-5-20250929",
        "ANTHROPIC_DEFAULT_OPUS_MODEL": "claude-opus-4-6[1m]",
        "ANTHROPIC_SMALL_FAST_MODEL": "claude-3-5-haiku-latest",
    }
    assert resolve_model("sonnet", env) == "claude-sonnet-4-5-20250929"
    assert resolve_model("sonnet[1m]", env) == "claude-sonnet-4-5-20250929[1m]"
    assert resolve_model("opus", env) == "claude-opus-4-6[1m]"
    assert resolve_model("haiku", env) == "claude-3-5-haiku-latest"
    assert resolve_model("haiku", {**env, "ANTHROPIC_DEFAULT_HAIKU_MODEL": "claude-haiku-5-5"}) == "claude-haiku-5-5"


def test_default_follows_anthropic_default_model() -> None:
    assert resolve_model("default", {"ANTHROPIC_DEFAULT_MODEL": "opus"}) == "claude-opus-5-5"


def test_plan_aliases_split_into_plan_and_exec_models() -> None:
    assert plan_and_exec_models("opusplan") == ("claude-opus-5-5", "claude-sonnet-5-5")
    assert plan_and_exec_models("opusplan[1m]") == ("claude-opus-5-5[1m]", "claude-sonnet-5-5[1m]")
    assert plan_and_exec_models("sonnetplan") == ("claude-sonnet-5-5", "claude-haiku-5-5")
    env = {"ANTHROPIC_DEFAULT_OPUS_MODEL": "my-opus"}
    assert plan_and_exec_models("opusplan", env) == ("my-opus", "claude-sonnet-5-5")
    assert plan_and_exec_models("haiku") == ("claude-haiku-5-5", "claude-haiku-5-5")


def test_1m_suffix_sets_the_context_window_and_is_stripped_for_the_api() -> None:
    assert context_window("claude-sonnet-5-5") == 200_000
    assert context_window("claude-sonnet-5-5[1m]") == 1_000_000
    assert api_model_id("claude-sonnet-5-5[1m]") == "claude-sonnet-5-5"
    assert api_model_id("claude-sonnet-5-5") == "claude-sonnet-5-5"
