"""Secrets that name their endpoint: the Slack bot token secret is `xoxb-...` or {"bot_token", "api_url"}."""

from __future__ import annotations

import pytest

from dexa.adapters.aws.secrets import SecretReader, SlackBot, secret_doc, slack_bot
from dexa.core.errors import ConfigError


def test_a_bare_token_uses_slacks_own_api() -> None:
    env = {"DEXA_SLACK_BOT_TOKEN": "xoxb-1"}
    assert slack_bot(SecretReader(env), env) == SlackBot(token="xoxb-1", api_url="")


def test_a_json_secret_names_the_api_and_the_environment_still_wins() -> None:
    env = {"DEXA_SLACK_BOT_TOKEN": '{"bot_token": "xoxb-2", "api_url": "http://127.0.0.1:9/api"}'}
    assert slack_bot(SecretReader(env), env) == SlackBot(token="xoxb-2", api_url="http://127.0.0.1:9/api")
    pinned = {**env, "DEXA_SLACK_API_URL": "https://slack.example/api"}
    assert slack_bot(SecretReader(pinned), pinned) == SlackBot(token="xoxb-2", api_url="https://slack.example/api")


def test_no_token_means_no_slack() -> None:
    assert slack_bot(SecretReader({}), {}) is None
    assert slack_bot(SecretReader({"DEXA_SLACK_BOT_TOKEN": "  "}), {}) is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('{"bot_token": ', "does not parse"),
        ('{"api_url": "http://x"}', "no 'bot_token'"),
        ('{"bot_token": 7}', "JSON object of strings"),
    ],
)
def test_a_malformed_secret_names_the_problem(raw: str, message: str) -> None:
    env = {"DEXA_SLACK_BOT_TOKEN": raw}
    with pytest.raises(ConfigError, match=message) as caught:
        slack_bot(SecretReader(env), env)
    assert "DEXA_SLACK_BOT_TOKEN" in caught.value.message
    assert "xoxb" not in caught.value.message  # the value itself is never echoed


def test_unknown_keys_are_dropped() -> None:
    doc = secret_doc('{"token": "t", "other": "x"}', name="N", value_key="token", keys=("api_url",))
    assert doc == {"token": "t"}
