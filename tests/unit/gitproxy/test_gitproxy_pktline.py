"""pkt-line parsing of receive-pack requests and the report-status refusal git understands."""

from __future__ import annotations

import pytest

from dexa.core.errors import PermissionDeniedError
from dexa.gitproxy.pktline import FLUSH, ZERO_OID, encode, parse_receive_pack, read_pkt, report_status

OLD, NEW = "a" * 40, "b" * 40


def _request(
    *commands: str,
    caps: str = "report-status side-band-64k agent=git/2.39",
    pack: bytes = b"PACKxyz",
    options: tuple[str, ...] = (),
) -> bytes:
    body = b""
    for i, command in enumerate(commands):
        body += encode(command + (f"\0{caps}" if i == 0 else "") + "\n")
    body += FLUSH
    if options:
        body += b"".join(encode(o + "\n") for o in options) + FLUSH
    return body + pack


def test_commands_capabilities_and_pack_are_split_apart() -> None:
    req = parse_receive_pack(_request(f"{OLD} {NEW} refs/heads/dexa/abc-x", f"{ZERO_OID} {NEW} refs/heads/dexa/abc-y"))
    assert [(u.old, u.new, u.ref) for u in req.updates] == [
        (OLD, NEW, "refs/heads/dexa/abc-x"),
        (ZERO_OID, NEW, "refs/heads/dexa/abc-y"),
    ]
    assert req.updates[1].is_create and not req.updates[0].is_create
    assert "report-status" in req.capabilities and req.pack == b"PACKxyz"


def test_push_options_and_shallow_lines_are_skipped() -> None:
    body = encode(f"shallow {OLD}\n") + _request(
        f"{OLD} {NEW} refs/heads/x", caps="report-status push-options", options=("ci.skip",)
    )
    req = parse_receive_pack(body)
    assert [u.ref for u in req.updates] == ["refs/heads/x"] and req.pack == b"PACKxyz"


def test_deletion_has_no_pack_and_is_recognised() -> None:
    req = parse_receive_pack(_request(f"{OLD} {ZERO_OID} refs/heads/x", pack=b""))
    assert req.updates[0].is_delete and req.pack == b""


_COMMAND = f"{OLD} {NEW} refs/heads/x\n".encode()


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"00",
        b"zzzz",
        b"0032" + b"x" * 10,
        encode("not a command\n") + FLUSH,
        encode(f"{OLD} {NEW}\n") + FLUSH,
        # Lengths int(..., 16) reads but git refuses: the proxy must not see commands git would not.
        b"+063" + _COMMAND + FLUSH,
        b"0x63" + _COMMAND + FLUSH,
        b" 063" + _COMMAND + FLUSH,
    ],
)
def test_malformed_requests_are_refused_not_forwarded(body: bytes) -> None:
    assert len(_COMMAND) + 4 == 0x63
    with pytest.raises(PermissionDeniedError, match=r"pkt-line|command"):
        parse_receive_pack(body)


def test_a_delim_pkt_ends_the_command_list_as_in_receive_pack() -> None:
    req = parse_receive_pack(encode(_COMMAND) + b"0001" + b"PACKxyz")
    assert [u.ref for u in req.updates] == ["refs/heads/x"] and req.pack == b"PACKxyz"


def test_refusal_report_uses_sideband_when_the_client_asked_for_it() -> None:
    req = parse_receive_pack(_request(f"{OLD} {NEW} refs/heads/main", f"{OLD} {NEW} refs/heads/dexa/abc-x"))
    out = report_status({"refs/heads/main": "not yours"}, req.updates, req.capabilities, "refused main")
    frames, pos = [], 0
    while pos < len(out):
        payload, pos = read_pkt(out, pos)
        frames.append(payload)
    assert frames[-1] is None and frames[0] == b"\x02dexa: refused main\n"
    inner = b"".join(f[1:] for f in frames if f and f[:1] == b"\x01")
    lines, pos = [], 0
    while pos < len(inner):
        payload, pos = read_pkt(inner, pos)
        lines.append(payload)
    assert lines == [
        b"unpack ok\n",
        b"ng refs/heads/main not yours\n",
        b"ng refs/heads/dexa/abc-x another ref in this push was refused\n",
        None,
    ]


def test_refusal_report_is_plain_without_sideband() -> None:
    req = parse_receive_pack(_request(f"{OLD} {NEW} refs/heads/main", caps="report-status"))
    out = report_status({"refs/heads/main": "no"}, req.updates, req.capabilities, "m")
    assert out == encode("unpack ok\n") + encode("ng refs/heads/main no\n") + FLUSH
