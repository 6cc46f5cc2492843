"""The CLI's table of the code `dataclasses` generates (dexa.core.codecache), in `$DEXA_HOME/cache`.

A headless `dexa run -p` creates about 220 dataclasses (~600 functions) on its way to the first model request:
70-110 ms of CPU compiling source text that is the same in every run. The table is loaded from the cache directory
and new entries are written back when the process exits. The same for the ~160 regular expressions it compiles
(dexa.core.regexcache: 25-35 ms of CPU).

Only the `dexa` command's own process installs it (cli/main.py, `process_exit.is_cli_process`); importing Dexa
elsewhere (tests, `dexa.cli.main.main()` called in-process) changes nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

from dexa.core import codecache


def cache_dir() -> Path:
    base = os.environ.get("DEXA_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "dexa")
    return Path(base).expanduser() / "cache"


def install() -> None:
    """Give `dataclasses` the cached `exec` (idempotent; harmless on a version that no longer compiles text), and
    `re` its table of compiled patterns (dexa.core.regexcache)."""
    codecache.install(cache_dir() / codecache.FILE_NAME, save=True)
    from dexa.core import regexcache

    regexcache.install(cache_dir() / regexcache.FILE_NAME)


__all__ = ["install"]
