"""Git pkt-lines: parse a `git-receive-pack` request's commands, and write a report-status refusal.

Request (gitprotocol-pack, "Reference Update Request and Packfile Transfer"):

    *shallow  command-list [push-options]  [packfile]
    command   = pkt-line(old-oid SP new-oid SP refname [NUL capability-list] LF)   ; first command has the NUL
    flush-pkt ends the command list; `push-options` (if negotiated) is more pkt-lines and a flush; then PACK.

An oid of all zeros as old means "create"; as new means "delete".
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from dexa.core.errors import PermissionDeniedError

FLUSH = b"0000"
ZERO_OID = "0" * 40
_MAX_DATA = 65516  # LARGE_PACKET_MAX - 4
_SIDEBAND_DATA = 65515  # minus the band byte


def _bad(message: str) -> PermissionDeniedError:
    # Not valid pkt-line data: refused rather than forwarded.
    return PermissionDeniedError(message, code="bad_pkt_line")


def encode(data: bytes | str) -> bytes:
    from dulwich.protocol import pkt_line

    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > _MAX_DATA:
        raise ValueError("pkt-line payload too long")
    return pkt_line(raw)


class _Reader:
    """pkt-lines of an in-memory request, read by dulwich's protocol reader, which takes lengths as git does (four
    hex digits, nothing `int(..., 16)` would also allow) and a delim-pkt as the end of a list, as receive-pack does.
    dulwich is imported here, by the first push, not with the API (~100 ms)."""

    def __init__(self, buf: bytes, pos: int = 0) -> None:
        from dulwich.protocol import Protocol

        self._stream = io.BytesIO(buf)
        self._stream.seek(pos)
        self._protocol = Protocol(self._stream.read, lambda _data: None)

    @property
    def pos(self) -> int:
        return self._stream.tell()

    def read(self) -> bytes | None:
        """The next payload; None for a flush-pkt. Truncated or malformed data raises PermissionDeniedError."""
        from dulwich.errors import GitProtocolError, HangupException

        try:
            return self._protocol.read_pkt_line()
        except HangupException as exc:
            raise _bad("push request ended where a pkt-line was due") from exc
        except GitProtocolError as exc:
            raise _bad(f"push request is not well-formed pkt-line data: {exc}") from exc


def read_pkt(buf: bytes, pos: int) -> tuple[bytes | None, int]:
    """(payload, next position); payload None for a flush-pkt. Truncated data raises PermissionDeniedError."""
    reader = _Reader(buf, pos)
    payload = reader.read()
    return payload, reader.pos


@dataclass(frozen=True, slots=True, kw_only=True)
class RefUpdate:
    old: str
    new: str
    ref: str

    @property
    def is_delete(self) -> bool:
        return self.new == ZERO_OID

    @property
    def is_create(self) -> bool:
        return self.old == ZERO_OID


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceivePackRequest:
    updates: tuple[RefUpdate, ...]
    capabilities: frozenset[str]
    pack: bytes
    push_cert: bool = False


def _oid(text: str) -> bool:
    return len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text)


def parse_receive_pack(body: bytes) -> ReceivePackRequest:
    """Split a receive-pack request body into its ref updates, capabilities and packfile bytes.

    Raises:
        PermissionDeniedError: the body is not a well-formed command list.
    """
    reader, updates, caps, push_cert = _Reader(body), [], frozenset[str](), False
    while True:
        payload = reader.read()
        if payload is None:
            break
        line = payload.rstrip(b"\n")
        if line.startswith(b"shallow "):
            continue
        if line.startswith(b"push-cert"):
            # Signed pushes wrap the commands in a certificate; refuse rather than parse two formats.
            push_cert = True
            continue
        command, nul, cap_text = line.partition(b"\0")
        if nul:
            caps = frozenset(cap_text.decode("ascii", "replace").split())
        fields = command.decode("utf-8", "replace").split(" ")
        if len(fields) != 3 or not _oid(fields[0]) or not _oid(fields[1]) or not fields[2]:
            raise _bad(f"malformed ref update command {command[:120]!r}")
        updates.append(RefUpdate(old=fields[0], new=fields[1], ref=fields[2]))
    if "push-options" in caps and reader.pos < len(body) and not body.startswith(b"PACK", reader.pos):
        while reader.read() is not None:
            pass
    return ReceivePackRequest(updates=tuple(updates), capabilities=caps, pack=body[reader.pos :], push_cert=push_cert)


def report_status(
    refusals: dict[str, str], updates: tuple[RefUpdate, ...], capabilities: frozenset[str], message: str
) -> bytes:
    """A receive-pack response rejecting every update, as git itself would (`! [remote rejected] ... (reason)`).

    `refusals` maps a ref to its own reason; other refs in the same push are refused as collateral, because the
    proxy forwards a push whole or not at all.
    """
    report = encode("unpack ok\n")
    for update in updates:
        reason = refusals.get(update.ref, "another ref in this push was refused")
        report += encode(f"ng {update.ref} {reason}\n")
    report += FLUSH
    if "side-band-64k" not in capabilities and "side-band" not in capabilities:
        return report
    out = b""
    for line in message.splitlines():
        out += encode(b"\x02" + f"dexa: {line}\n".encode())
    size = _SIDEBAND_DATA if "side-band-64k" in capabilities else 999
    for start in range(0, len(report), size):
        out += encode(b"\x01" + report[start : start + size])
    return out + FLUSH
