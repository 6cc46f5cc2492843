"""Repository names, session short ids and the `dexa/<session-short>-<slug>` branch rule."""

from __future__ import annotations

import pytest

from dexa.code.naming import branch_name, branch_prefix, parse_repo, parse_source, session_short, slugify, valid_branch
from dexa.core.errors import ToolInputError


def test_repo_spellings_normalise_to_owner_slash_name() -> None:
    for text in (
        "acme/api",
        "github:acme/api",
        "https://github.com/acme/api.git",
        "git@github.com:acme/api.git",
        " acme/api/ ",
    ):
        assert parse_repo(text) == "acme/api"


@pytest.mark.parametrize("bad", ["acme", "acme/api/extra", "../etc/passwd", "acme/..", "-x/y", "acme/a b", ""])
def test_things_that_are_not_repositories_are_rejected_with_the_input_named(bad: str) -> None:
    with pytest.raises(ToolInputError, match="is not a repository"):
        parse_repo(bad)


def test_sources_name_repos_with_an_optional_base_and_other_sources_are_left_alone() -> None:
    assert parse_source("github:acme/web@release/2.0") == ("acme/web", "release/2.0")
    assert parse_source("github:acme/web") == ("acme/web", None)
    assert parse_source("int_calendar_1") is None
    with pytest.raises(ToolInputError, match="not a branch name"):
        parse_source("github:acme/web@bad..name")


def test_branch_is_dexa_session_short_and_slug() -> None:
    sid = "ses_9f8e7d6c5b4a39281706"
    assert session_short(sid) == "9f8e7d6c"
    assert branch_prefix(sid) == "dexa/9f8e7d6c-"
    assert (
        branch_name(sid, "Update the API contract & client types!")
        == "dexa/9f8e7d6c-update-the-api-contract-client-types"
    )
    assert branch_name(sid, "") == "dexa/9f8e7d6c-changes"
    assert valid_branch(branch_name(sid, "Ünïcödé — names"))


def test_slugs_are_short_and_cut_at_a_word() -> None:
    slug = slugify("a very long description of a change that goes on and on and on forever")
    assert len(slug) <= 40 and not slug.endswith("-") and slug.startswith("a-very-long")


def test_branch_name_check_rejects_what_git_would() -> None:
    for bad in ("-x", "a..b", "a/", "x.lock", "a b", "a~1", "/abs", "a//b"):
        assert not valid_branch(bad), bad
    assert valid_branch("release/2.0") and valid_branch("main")
