"""Path globs for `paths:` frontmatter (rules and skills), matched against paths relative to a project root.

The dialect is the Glob tool's (dexa.tools.globbing.compile_glob), so `*.md` matches only at the root and
`src/**/*.{ts,tsx}` anywhere under src. A leading `./` or `/` means the project root. A pattern that cannot
compile (braces past the expansion budget) matches nothing instead of failing the load.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from dexa.core.errors import ConfigError
from dexa.tools.globbing import GlobMatcher, compile_glob

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GlobSet:
    patterns: tuple[str, ...]
    matchers: tuple[GlobMatcher, ...]

    @staticmethod
    def compile(patterns: Iterable[str]) -> GlobSet:
        raw = tuple(p for p in patterns if p.strip())
        matchers: list[GlobMatcher] = []
        for p in raw:
            try:
                matchers.append(compile_glob(p.strip().removeprefix("./").lstrip("/")))
            except ConfigError as exc:
                logger.warning("paths pattern ignored: %s", exc)
        return GlobSet(raw, tuple(matchers))

    def matches(self, relative_path: str) -> bool:
        rel = relative_path.replace("\\", "/").removeprefix("./")
        return any(m.match(rel) for m in self.matchers)
