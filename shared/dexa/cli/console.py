"""The CLI's error console: rich on stderr, built on first use, so a run that prints no error never imports rich."""

from __future__ import annotations

from typing import Any


class _Stderr:
    """rich's stderr Console, built by the first print."""

    _console: Any = None

    def print(self, *objects: Any, **kwargs: Any) -> None:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=True, soft_wrap=True)  # no mid-word wrapping when stderr is a pipe
        self._console.print(*objects, **kwargs)


err = _Stderr()
