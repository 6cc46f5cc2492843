"""Blocking or non-blocking per staged output: which policy level decides, and bad tables named."""

from __future__ import annotations

import pytest

from dexa.core.errors import ConfigError
from dexa.integrations.outputs.modes import OutputModes


def test_the_built_in_default_is_non_blocking() -> None:
    assert OutputModes().choose(server="git", tool="git_commit", kind="mcp_call") == ("non_blocking", "default")


def test_a_tool_beats_its_output_type_which_beats_the_default() -> None:
    modes = OutputModes.from_dict(
        {"default": "blocking", "output_types": {"email": "non_blocking"}, "tools": {"mail/send_draft": "blocking"}}
    )
    assert modes.choose(server="mail", tool="send_draft", kind="email") == ("blocking", "modes.tools.mail/send_draft")
    assert modes.choose(server="other", tool="send_draft", kind="email")[0] == "non_blocking"
    assert modes.choose(server="crm", tool="update", kind="crm_update") == ("blocking", "modes.default")


def test_across_policies_the_first_that_names_the_call_decides_then_the_first_default() -> None:
    org = OutputModes.from_dict({"default": "non_blocking"})
    user = OutputModes.from_dict({"tools": {"git/git_commit": "blocking"}})
    project = OutputModes.from_dict({"default": "blocking"})
    first = OutputModes.first
    assert first([org, user, project], server="git", tool="git_commit", kind="mcp_call")[0] == "blocking"
    assert first([org, user, project], server="git", tool="git_push", kind="mcp_call") == (
        "non_blocking",
        "modes.default",
    )
    assert first([OutputModes(), project], server="x", tool="y", kind="email") == ("blocking", "modes.default")


@pytest.mark.parametrize(
    ("doc", "names"),
    [
        ({"default": "wait"}, "modes.default"),
        ({"tools": {"a/b": "sometimes"}}, "modes.tools.a/b"),
        ({"output_types": ["email"]}, "modes.output_types"),
    ],
)
def test_a_bad_mode_table_is_refused_naming_the_field(doc: dict, names: str) -> None:
    with pytest.raises(ConfigError, match=names):
        OutputModes.from_dict(doc)
