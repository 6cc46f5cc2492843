"""Secret scrubbing applied to every event before it is stored."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

_PATTERNS = [
    re.compile(r"sk-ant-[A-Za-z0-9_\-]{10,}"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"),
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    re.compile(r"\bxox[abprs]-[A-Za-z0-9\-]{10,}"),
    re.compile(r"\bya29\.[A-Za-z0-9_\-]{20,}"),
    re.compile(r"\bdxg1\.[A-Za-z0-9_.\-]{16,}"),  # git proxy session tokens
    re.compile(r"(?i)(authorization:\s*bearer\s+)[A-Za-z0-9._\-]{16,}"),
]
MASK = "[REDACTED]"


class Redactor:
    """Masks known secret shapes plus the exact values of secrets this deployment holds."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._literals = sorted({s for s in secrets if s and len(s) >= 8}, key=len, reverse=True)

    def add(self, secret: str) -> None:
        if secret and len(secret) >= 8 and secret not in self._literals:
            self._literals.append(secret)
            self._literals.sort(key=len, reverse=True)

    def text(self, value: str) -> str:
        for lit in self._literals:
            if lit in value:
                value = value.replace(lit, MASK)
        for pat in _PATTERNS:
            if pat.groups:
                value = pat.sub(lambda m: m.group(1) + MASK, value)
            else:
                value = pat.sub(MASK, value)
        return value

    def scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.scrub(v) for k, v in value.items()}  # pyright: ignore[reportUnknownVariableType]
        if isinstance(value, list | tuple):
            return [self.scrub(v) for v in value]  # pyright: ignore[reportUnknownVariableType]
        return value
