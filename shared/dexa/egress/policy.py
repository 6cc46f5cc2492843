"""Network levels (seed §8.2) and the resolved `NetworkPolicy` every egress path enforces.

Levels: `none` (nothing), `trusted` (the curated `TRUSTED_DOMAINS`), `custom` (a domain list, optionally plus the
trusted defaults) and `full` (any domain). A domain pattern is an exact name (`pypi.org`) or `*.` plus a name
(`*.pythonhosted.org`), which matches subdomains only. Denied patterns win over everything, `full` included.
Address rules (loopback, private, metadata...) are not here: they hold at every level (see `addresses.py`).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Literal, cast

NetworkLevel = Literal["none", "trusted", "custom", "full"]
LEVELS: tuple[NetworkLevel, ...] = ("none", "trusted", "custom", "full")

# Package registries and git hosts only: enough to install dependencies and clone, little room to exfiltrate.
TRUSTED_DOMAINS: tuple[str, ...] = (
    # Python
    "pypi.org",
    "*.pypi.org",
    "pythonhosted.org",
    "*.pythonhosted.org",
    # JavaScript
    "registry.npmjs.org",
    "*.npmjs.org",
    "npmjs.com",
    "registry.yarnpkg.com",
    "repo.yarnpkg.com",
    # Rust
    "crates.io",
    "*.crates.io",
    "static.rust-lang.org",
    "sh.rustup.rs",
    # Go
    "proxy.golang.org",
    "sum.golang.org",
    "index.golang.org",
    # Ruby
    "rubygems.org",
    "*.rubygems.org",
    # Java
    "repo.maven.apache.org",
    "repo1.maven.org",
    "central.sonatype.com",
    "plugins.gradle.org",
    "services.gradle.org",
    # Debian and Ubuntu mirrors
    "deb.debian.org",
    "security.debian.org",
    "archive.ubuntu.com",
    "*.archive.ubuntu.com",
    "security.ubuntu.com",
    "ports.ubuntu.com",
    # Git hosts
    "github.com",
    "api.github.com",
    "codeload.github.com",
    "*.githubusercontent.com",
    "gitlab.com",
    "registry.gitlab.com",
    "bitbucket.org",
    "api.bitbucket.org",
)

_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_NAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")


def normalize_host(host: str) -> str:
    """Lower case, no trailing dot, no IPv6 brackets: the form patterns are matched against."""
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host


def parse_pattern(raw: str) -> str:
    """A normalized domain pattern. Raises ValueError naming what is wrong."""
    pattern = raw.strip().lower().rstrip(".")
    name = pattern[2:] if pattern.startswith("*.") else pattern
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        pass
    else:
        if pattern.startswith("*."):
            raise ValueError(f"{raw!r}: `*.` needs a domain name, not an address")
        return name.strip("[]")
    if not name or "*" in name or not _NAME.match(name):
        raise ValueError(f"{raw!r} is not a domain name or `*.domain` pattern")
    if pattern.startswith("*.") and "." not in name:
        raise ValueError(f"{raw!r} would match a whole top-level domain")
    return pattern


def pattern_matches(pattern: str, host: str) -> bool:
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


def _covers(outer: str, inner: str) -> bool:
    """Every host `inner` matches is matched by `outer`."""
    if not outer.startswith("*."):
        return outer == inner
    # `*.example.com` covers `a.example.com` and `*.a.example.com`, never the apex `example.com`.
    return inner == outer or inner.endswith(outer[1:])


def _intersect(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    out: list[str] = []
    for x in a:
        for y in b:
            if _covers(y, x):
                out.append(x)
            elif _covers(x, y):
                out.append(y)
    return tuple(dict.fromkeys(out))


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkPolicy:
    """What one session may reach. `allowed_domains` is the effective list for `trusted`/`custom`."""

    level: NetworkLevel = "none"
    allowed_domains: tuple[str, ...] = ()
    denied_domains: tuple[str, ...] = ()

    @classmethod
    def from_level(
        cls,
        level: str,
        domains: tuple[str, ...] | list[str] = (),
        *,
        include_defaults: bool = False,
        denied: tuple[str, ...] | list[str] = (),
    ) -> NetworkPolicy:
        """Build a policy; raises ValueError for an unknown level or a malformed pattern."""
        if level not in LEVELS:
            raise ValueError(f"unknown network level {level!r}; expected one of {', '.join(LEVELS)}")
        allowed: tuple[str, ...] = ()
        if level == "trusted" or (level == "custom" and include_defaults):
            allowed = TRUSTED_DOMAINS
        if level == "custom":
            allowed = tuple(dict.fromkeys((*allowed, *(parse_pattern(d) for d in domains))))
        return cls(
            level=_level_for(cast(NetworkLevel, level), allowed),
            allowed_domains=allowed,
            denied_domains=tuple(dict.fromkeys(parse_pattern(d) for d in denied)),
        )

    @property
    def enabled(self) -> bool:
        """Any egress at all (the pre-levels `dexa.network.enabled` flag)."""
        return self.level != "none"

    def describe(self) -> str:
        return f"level {self.level}"

    def denial_reason(self, host: str) -> str | None:
        """None when `host` may be reached, else a sentence naming the cause."""
        host = normalize_host(host)
        if self.level == "none":
            return f"this session has no network access ({self.describe()}), so {host} is unreachable"
        if any(pattern_matches(p, host) for p in self.denied_domains):
            return f"{host} is denied by this session's network policy ({self.describe()})"
        if self.level == "full" or any(pattern_matches(p, host) for p in self.allowed_domains):
            return None
        return f"{host} is not in this session's network policy ({self.describe()})"

    def allows(self, host: str) -> bool:
        return self.denial_reason(host) is None

    def within(self, other: NetworkPolicy) -> bool:
        """True when this policy allows no host that `other`'s level and list do not (deny lists aside)."""
        if self.level == "none" or other.level == "full":
            return True
        if self.level == "full" or other.level == "none":
            return False
        return all(any(_covers(o, p) for o in other.allowed_domains) for p in self.allowed_domains)

    def narrow(self, other: NetworkPolicy) -> NetworkPolicy:
        """The intersection: a host is allowed only if both policies allow it."""
        denied = tuple(dict.fromkeys((*self.denied_domains, *other.denied_domains)))
        if "none" in (self.level, other.level):
            return NetworkPolicy(level="none", denied_domains=denied)
        if self.level == "full":
            return NetworkPolicy(level=other.level, allowed_domains=other.allowed_domains, denied_domains=denied)
        if other.level == "full":
            return NetworkPolicy(level=self.level, allowed_domains=self.allowed_domains, denied_domains=denied)
        allowed = _intersect(self.allowed_domains, other.allowed_domains)
        return NetworkPolicy(level=_level_for("custom", allowed), allowed_domains=allowed, denied_domains=denied)


def _level_for(level: NetworkLevel, allowed: tuple[str, ...]) -> NetworkLevel:
    if level in ("none", "full"):
        return level
    return "trusted" if set(allowed) == set(TRUSTED_DOMAINS) else "custom"
