"""bashlex's parse tables are built once per machine, and a cache that is missing, corrupt or unwritable changes
nothing but the time it takes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROBE = (
    "import dexa.permissions.bash as b; "
    "p = b.parse_command('[ -f x ] && npm test | tee log; echo $(pwd) > out'); "
    "print(p.ok, len(p.subcommands), [s.words[0].value for s in p.subcommands])"
)


def _probe(home: Path) -> str:
    env = {**os.environ, "DEXA_HOME": str(home)}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_tables_are_cached_and_a_bad_cache_is_rebuilt(tmp_path: Path) -> None:
    first = _probe(tmp_path)
    cached = list((tmp_path / "cache").glob("bashlex-lr-*.marshal"))
    assert len(cached) == 1 and cached[0].stat().st_size > 10_000
    assert _probe(tmp_path) == first  # from the cache
    cached[0].write_bytes(b"not marshal data")
    assert _probe(tmp_path) == first  # rebuilt
    assert cached[0].stat().st_size > 10_000


def test_an_unwritable_cache_directory_only_costs_time(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "cache").write_text("a file where the cache directory would go")
    assert _probe(home).startswith("True")
