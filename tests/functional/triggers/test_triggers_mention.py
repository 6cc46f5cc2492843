"""`@dexa` mentions: only live text addressed to Dexa becomes a task."""

from __future__ import annotations

from dexa.triggers import extract_task


def test_mention_is_removed_and_the_rest_is_the_task() -> None:
    assert (
        extract_task("@dexa please rename `name` to `full_name` in the API")
        == "please rename `name` to `full_name` in the API"
    )
    assert extract_task("@dexa apply:\n```diff\n-a\n+b\n```") == "apply:\n```diff\n-a\n+b\n```"
    assert extract_task("Hey @Dexa: fix the flaky test\nthanks") == "Hey : fix the flaky test\nthanks"
    assert extract_task("@dexa, update the client types") == "update the client types"


def test_no_mention_quoted_mention_or_code_mention_is_not_a_task() -> None:
    assert extract_task("looks good to me") is None
    assert extract_task("> @dexa do something\n\nI disagree with the above") is None
    assert extract_task("```\n@dexa run\n```\nsee the log") is None
    assert extract_task("use `@dexa` to ask the bot") is None


def test_similar_handles_and_emails_do_not_count() -> None:
    assert extract_task("ping @dexa-bot about it") is None
    assert extract_task("mail me at ops@dexa.dev") is None
    assert extract_task("@dexabot hello") is None
    assert extract_task("cc @someone @dexa") == "cc @someone"
