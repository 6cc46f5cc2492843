"""A settings problem: its own module so the parsers that report one (hooks, permissions) need not import the
settings types that hold their results, which would close an import cycle."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SettingsProblem:
    """A malformed file or key. Loading goes on without it; the runtime reports it as a `config.error` event."""

    file: str
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.key}" if self.key else self.file
        return f"{where}: {self.message}"

    def to_event(self) -> dict[str, str]:
        return {"file": self.file, "key": self.key, "message": self.message}
