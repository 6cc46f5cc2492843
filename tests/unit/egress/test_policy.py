"""Network levels, domain patterns and policy composition (narrow / within)."""

from __future__ import annotations

import pytest

from dexa.egress.policy import TRUSTED_DOMAINS, NetworkPolicy, parse_pattern

TRUSTED = NetworkPolicy.from_level("trusted")
FULL = NetworkPolicy.from_level("full")
NONE = NetworkPolicy()


@pytest.mark.parametrize(
    ("policy", "host", "allowed"),
    [
        (NONE, "pypi.org", False),
        (FULL, "example.com", True),
        (FULL, "93.184.216.34", True),
        (TRUSTED, "pypi.org", True),
        (TRUSTED, "PyPI.org.", True),
        (TRUSTED, "files.pythonhosted.org", True),
        (TRUSTED, "raw.githubusercontent.com", True),
        (TRUSTED, "githubusercontent.com", False),  # `*.` matches subdomains, never the apex
        (TRUSTED, "example.com", False),
        (TRUSTED, "pypi.org.evil.com", False),
        (TRUSTED, "evilpypi.org", False),
        (NetworkPolicy.from_level("custom", ["example.com"]), "example.com", True),
        (NetworkPolicy.from_level("custom", ["example.com"]), "www.example.com", False),
        (NetworkPolicy.from_level("custom", ["*.example.com"]), "a.b.example.com", True),
        (NetworkPolicy.from_level("custom", ["example.com"]), "pypi.org", False),
        (NetworkPolicy.from_level("custom", ["example.com"], include_defaults=True), "pypi.org", True),
        (NetworkPolicy.from_level("full", denied=["*.evil.com"]), "x.evil.com", False),
        (NetworkPolicy.from_level("trusted", denied=["github.com"]), "github.com", False),
    ],
)
def test_allows_follows_level_patterns_and_denials(policy: NetworkPolicy, host: str, allowed: bool) -> None:
    assert policy.allows(host) is allowed


def test_denial_reasons_name_the_host_and_level() -> None:
    assert TRUSTED.denial_reason("example.com") == "example.com is not in this session's network policy (level trusted)"
    assert "no network access (level none)" in (NONE.denial_reason("pypi.org") or "")
    assert TRUSTED.denial_reason("pypi.org") is None


@pytest.mark.parametrize("bad", ["*", "*.com", "exa*mple.com", "a..b", "", "-x.com", "*.1.2.3.4", "a b.com"])
def test_malformed_patterns_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_pattern(bad)


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown network level 'open'"):
        NetworkPolicy.from_level("open")


@pytest.mark.parametrize(
    ("a", "b", "expected_level", "expected_domains"),
    [
        (FULL, TRUSTED, "trusted", TRUSTED_DOMAINS),
        (TRUSTED, FULL, "trusted", TRUSTED_DOMAINS),
        (TRUSTED, NONE, "none", ()),
        (FULL, NetworkPolicy.from_level("custom", ["a.org"]), "custom", ("a.org",)),
        (TRUSTED, NetworkPolicy.from_level("custom", ["pypi.org", "evil.com"]), "custom", ("pypi.org",)),
        (
            TRUSTED,
            NetworkPolicy.from_level("custom", ["x.githubusercontent.com"]),
            "custom",
            ("x.githubusercontent.com",),
        ),
        (
            NetworkPolicy.from_level("custom", ["*.example.com"]),
            NetworkPolicy.from_level("custom", ["*.a.example.com", "example.com"]),
            "custom",
            ("*.a.example.com",),
        ),
    ],
)
def test_narrow_is_the_intersection(
    a: NetworkPolicy, b: NetworkPolicy, expected_level: str, expected_domains: tuple[str, ...]
) -> None:
    got = a.narrow(b)
    assert got.level == expected_level
    assert set(got.allowed_domains) == set(expected_domains)


def test_narrow_never_allows_more_than_either_side() -> None:
    hosts = ["pypi.org", "evil.com", "a.example.com", "example.com", "x.githubusercontent.com", "github.com"]
    policies = [
        NONE,
        FULL,
        TRUSTED,
        NetworkPolicy.from_level("custom", ["*.example.com", "evil.com"]),
        NetworkPolicy.from_level("custom", ["example.com"], include_defaults=True),
        NetworkPolicy.from_level("full", denied=["github.com"]),
    ]
    for a in policies:
        for b in policies:
            both = a.narrow(b)
            for host in hosts:
                assert both.allows(host) == (a.allows(host) and b.allows(host)), (a, b, host)


@pytest.mark.parametrize(
    ("inner", "outer", "within"),
    [
        (NONE, TRUSTED, True),
        (TRUSTED, FULL, True),
        (FULL, TRUSTED, False),
        (TRUSTED, NONE, False),
        (NetworkPolicy.from_level("custom", ["pypi.org"]), TRUSTED, True),
        (NetworkPolicy.from_level("custom", ["evil.com"]), TRUSTED, False),
        (TRUSTED, NetworkPolicy.from_level("custom", ["pypi.org"]), False),
        (
            NetworkPolicy.from_level("custom", ["*.a.example.com"]),
            NetworkPolicy.from_level("custom", ["*.example.com"]),
            True,
        ),
        (
            NetworkPolicy.from_level("custom", ["example.com"]),
            NetworkPolicy.from_level("custom", ["*.example.com"]),
            False,
        ),
    ],
)
def test_within_detects_widening(inner: NetworkPolicy, outer: NetworkPolicy, within: bool) -> None:
    assert inner.within(outer) is within


def test_enabled_keeps_the_old_flag_meaning() -> None:
    assert not NONE.enabled and TRUSTED.enabled and FULL.enabled
