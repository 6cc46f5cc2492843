"""Session tokens for the git proxy: scoped, signed, short-lived, rotatable."""

from __future__ import annotations

import pytest

from dexa.core.errors import ConfigError, PermissionDeniedError
from dexa.gitproxy import SessionTokens, ref_refusals
from dexa.gitproxy.pktline import ZERO_OID, RefUpdate

KEY = b"0123456789abcdef0123456789abcdef"


def test_a_minted_token_verifies_to_its_session_and_org() -> None:
    now = [1000.0]
    tokens = SessionTokens([KEY], ttl_s=60, clock=lambda: now[0])
    claims = tokens.verify(tokens.mint(session_id="ses_1", org_id="org_1"))
    assert (claims.session_id, claims.org_id, claims.expires_at) == ("ses_1", "org_1", 1060)
    now[0] = 1060
    with pytest.raises(PermissionDeniedError, match="expired"):
        tokens.verify(tokens.mint(session_id="ses_1", org_id="org_1", ttl_s=0.5))


def test_forged_foreign_and_garbage_tokens_are_refused() -> None:
    tokens = SessionTokens([KEY])
    other = SessionTokens([b"another-secret-of-enough-length"])
    good = tokens.mint(session_id="ses_1", org_id="org_1")
    prefix, _payload, sig = good.split(".")
    forged_payload = other.mint(session_id="ses_2", org_id="org_1").split(".")[1]
    for bad in (
        f"{prefix}.{forged_payload}.{sig}",
        other.mint(session_id="ses_1", org_id="org_1"),
        "ghs_abc",
        "dxg1..",
        "dxg1.e30.x",
    ):
        with pytest.raises(PermissionDeniedError):
            tokens.verify(bad)


def test_rotated_keys_still_verify_old_tokens() -> None:
    old = SessionTokens([KEY]).mint(session_id="ses_1", org_id="o")
    rotated = SessionTokens([b"the-new-signing-secret-0123456", KEY])
    assert rotated.verify(old).session_id == "ses_1"


def test_weak_secrets_and_long_lifetimes_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="16 bytes"):
        SessionTokens([b"short"])
    with pytest.raises(ConfigError, match="ttl"):
        SessionTokens([KEY], ttl_s=86400)


def test_ref_rules_allow_only_the_sessions_own_branches_and_no_deletions() -> None:
    sid, new = "ses_abcdef12aaaa", "b" * 40
    updates = [
        RefUpdate(old=ZERO_OID, new=new, ref="refs/heads/dexa/abcdef12-fix"),
        RefUpdate(old=ZERO_OID, new=new, ref="refs/heads/dexa/abcdef12-"),
        RefUpdate(old=ZERO_OID, new=new, ref="refs/heads/dexa/99999999-fix"),
        RefUpdate(old=ZERO_OID, new=new, ref="refs/tags/dexa/abcdef12-v1"),
        RefUpdate(old="a" * 40, new=ZERO_OID, ref="refs/heads/dexa/abcdef12-old"),
    ]
    refusals = ref_refusals(updates, session_id=sid)
    assert set(refusals) == {u.ref for u in updates[1:]}
    assert "deleting" in refusals["refs/heads/dexa/abcdef12-old"]
