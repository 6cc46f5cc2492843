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


AST_PROBE = r"""
import json, sys
from dexa.permissions import bashlex_tables
bashlex_tables.install()  # before bashlex is imported, as dexa.permissions.bash does
import bashlex, bashlex.parser
commands = [
    "[ -f x ] && npm test | tee log; echo $(pwd) > out",
    "for i in 1 2; do git log -n $i; done",
    "if true; then a; elif b; then c; else d; fi",
    "while read l; do echo \"$l\" >> f; done < in",
    "until false; do x=1 y=2 cmd --flag=v; done",
    "f() { echo hi; }; f &",
    "cat <<EOF\nhello $USER\nEOF",
    "(cd /tmp && ls) || { echo no; exit 1; }",
    "echo `date` ${HOME:-/} 2>&1 | grep -v x",
    "! a && b; c > /dev/null 2>&1 &",
]
trees = [[node.dump() for node in bashlex.parse(c)] for c in commands]
items = sum(len(p.lr_items) for p in bashlex.parser.yaccparser.productions)
print(json.dumps({"trees": trees, "lr_items": items}))
"""


def test_cached_tables_parse_as_built_ones_without_the_grammar_analyses(tmp_path: Path) -> None:
    """With the tables cached, LRTable runs none of the build's grammar analyses (LR items, FIRST, FOLLOW: ~13 ms
    of every process), and every construct parses to the same tree as with tables built in the process."""
    import json

    def probe() -> dict:
        env = {**os.environ, "DEXA_HOME": str(tmp_path)}
        out = subprocess.run([sys.executable, "-c", AST_PROBE], env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    built, cached = probe(), probe()
    assert built["lr_items"] > 100, "the first process builds the tables (and the items they come from)"
    assert cached["lr_items"] == 0, "the grammar's LR items were computed although the tables were cached"
    assert cached["trees"] == built["trees"]
    assert "CommandNode" in built["trees"][0][0] and len(built["trees"]) == 10
