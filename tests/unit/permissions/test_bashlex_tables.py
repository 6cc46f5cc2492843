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


def test_tables_the_layer_build_ships_are_read_from_beside_the_module_and_nothing_is_built(tmp_path: Path) -> None:
    # What layers/dexa/build.sh runs: the module as a script, with the target's Python, into the layer.
    module = Path(__import__("dexa.permissions.bashlex_tables").permissions.bashlex_tables.__file__)
    bundled = tmp_path / "layer" / "bashlex_lr"
    made = subprocess.run(
        [sys.executable, "-S", "-P", str(module), str(bundled)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    (table,) = bundled.glob("bashlex-lr-*.marshal")
    assert oct(table.stat().st_mode & 0o777) == "0o644"  # Lambda reads the layer as another user
    assert not list((tmp_path / "layer").glob(".*"))  # the build's scratch home is gone

    # A Lambda container: a fresh home. The shipped tables answer, so nothing is built or written there.
    home = tmp_path / "fresh-home"
    # The module is loaded by hand first, pointed at the tables, and then found by dexa.permissions' own imports.
    probe = (
        "import importlib.util, pathlib, sys; "
        f"spec = importlib.util.spec_from_file_location('dexa.permissions.bashlex_tables', {str(module)!r}); "
        "t = sys.modules[spec.name] = importlib.util.module_from_spec(spec); spec.loader.exec_module(t); "
        f"t.BUNDLED_DIR = pathlib.Path({str(bundled)!r}); {PROBE}"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], env={**os.environ, "DEXA_HOME": str(home)}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == _probe(tmp_path / "other-home")  # the same parse as from tables built here
    assert not (home / "cache").exists()  # read from the layer: not built, so not cached
    table.write_bytes(b"corrupt")  # a bad shipped table only costs the build
    out = subprocess.run(
        [sys.executable, "-c", probe], env={**os.environ, "DEXA_HOME": str(home)}, capture_output=True, text=True
    )
    assert out.returncode == 0 and out.stdout.startswith("True"), out.stderr
    assert list((home / "cache").glob("bashlex-lr-*.marshal"))
