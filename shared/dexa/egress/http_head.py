"""The little HTTP/1.x the egress proxy speaks: parse one bounded request head, build a short refusal."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_HEADERS = 100
# Hop-by-hop headers (RFC 9110 §7.6.1) and proxy credentials are never forwarded upstream.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "trailer", "upgrade", "host"}
)
_PHRASES = {
    400: "Bad Request",
    403: "Forbidden",
    405: "Method Not Allowed",
    408: "Request Timeout",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    502: "Bad Gateway",
    504: "Gateway Timeout",
}


class BadRequest(Exception):
    """A request head the proxy will not handle; `status` and the message go back to the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestHead:
    method: str
    host: str
    port: int
    version: str
    path: str = ""  # origin-form target for a plain-HTTP request; empty for CONNECT
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if (self.method != "CONNECT" and self.port == 80) else f"{host}:{self.port}"

    def upstream_head(self) -> bytes:
        """The request as the origin server should see it: origin-form, its own Host, one request per connection."""
        lines = [f"{self.method} {self.path} {self.version}", f"Host: {self.authority}"]
        lines += [f"{k}: {v}" for k, v in self.headers if k.lower() not in HOP_BY_HOP]
        lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _host_port(authority: str, default_port: int | None) -> tuple[str, int]:
    if "@" in authority:
        raise BadRequest(400, "credentials in the request target are not supported")
    if authority.startswith("["):
        host, _, rest = authority[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = authority.rpartition(":") if authority.count(":") == 1 else (authority, "", "")
    if not port_text:
        if default_port is None:
            raise BadRequest(400, f"CONNECT needs host:port, got {authority!r}")
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise BadRequest(400, f"invalid port in {authority!r}")
    return host, int(port_text)


def parse_head(raw: bytes) -> RequestHead:
    """Parse `raw` (the bytes up to and including the blank line). Raises BadRequest."""
    try:
        text = raw.decode("latin-1")
    except UnicodeDecodeError as exc:  # pragma: no cover - latin-1 decodes every byte
        raise BadRequest(400, "undecodable request head") from exc
    lines = text[:-4].split("\r\n") if text.endswith("\r\n\r\n") else text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[2] not in ("HTTP/1.0", "HTTP/1.1"):
        raise BadRequest(400, "malformed request line")
    method, target, version = parts
    if len(lines) - 1 > MAX_HEADERS:
        raise BadRequest(431, f"more than {MAX_HEADERS} header fields")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip() or any(c in name for c in " \t"):
            raise BadRequest(400, "malformed header field")
        headers.append((name, value.strip()))
    if method == "CONNECT":
        host, port = _host_port(target, None)
        return RequestHead(method=method, host=host, port=port, version=version, headers=tuple(headers))
    if not target.lower().startswith("http://"):
        if target.lower().startswith("https://"):
            raise BadRequest(400, "send https requests with CONNECT; this proxy does not terminate TLS")
        raise BadRequest(400, "this is a forward proxy: send an absolute http:// URI or CONNECT host:port")
    split = urlsplit(target)
    host, port = _host_port(split.netloc, 80)
    path = split.path or "/"
    if split.query:
        path += "?" + split.query
    return RequestHead(method=method, host=host, port=port, version=version, path=path, headers=tuple(headers))


def refusal(status: int, message: str) -> bytes:
    body = f"dexa egress: {message}\n".encode()
    extra = "Retry-After: 1\r\n" if status == 429 else ""
    head = (
        f"HTTP/1.1 {status} {_PHRASES.get(status, 'Error')}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body
