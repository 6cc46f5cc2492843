"""The Lambda layer's table of dataclass code (dexa.core.codecache): built once as layers/dexa/build.sh builds it,
then used read-only by every cold container through `import dexa.cloud`, whose dataclasses then compile nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]

# A cold container: the functions' entry package, then what a step and the API create their dataclasses in.
CHILD = """
import builtins, json, sys
compiled = []  # dataclass source text compiled: by exec (no table) or compile (the table's misses)
def counting(real):
    def call(source, *args, **kwargs):
        if isinstance(source, str) and source.lstrip().startswith("def __create_fn__"):
            compiled.append(source)
        return real(source, *args, **kwargs)
    return call
builtins.compile, builtins.exec = counting(builtins.compile), counting(builtins.exec)
import dataclasses
import dexa.cloud
table = getattr(vars(dataclasses).get("exec"), "__self__", None)
before = table.loaded if table else 0
created = set()  # the dataclass functions the imports below create: distinct source texts
if table:
    cached = dataclasses.exec
    def recording(source, *args):
        created.add(source)
        return cached(source, *args)
    dataclasses.exec = recording
import dexa.core.session, dexa.core.events, dexa.settings
out = {"compiled": len(compiled), "installed": table is not None}
if table:
    out |= {"created": len(created), "unmarshalled": table.loaded - before, "entries": len(table),
            "code_objects": len(table.code), "loaded": table.loaded}
print(json.dumps(out))
"""


def _tree(tmp_path: Path) -> Path:
    """A copy of the dexa package as the layer holds it (the table lives beside the package)."""
    shutil.copytree(ROOT / "shared" / "dexa", tmp_path / "dexa", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def _run(tree: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree), "DEXA_HOME": str(tree / "home")}
    return subprocess.run([sys.executable, "-P", "-B", *args], env=env, capture_output=True, text=True, timeout=120)


def _cold(tree: Path) -> dict[str, Any]:
    out = _run(tree, "-c", CHILD)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.splitlines()[-1])


def _table(tree: Path) -> Path:
    return next((tree / "dexa" / "_dataclass_code").glob("dataclass-code-*.marshal"))


def test_a_cold_container_compiles_no_dataclass_code_the_layer_table_holds(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    without = _cold(tree)
    assert without == {"compiled": without["compiled"], "installed": False} and int(without["compiled"]) > 20
    built = _run(tree, "-m", "dexa.core.codecache", "-", "dexa.*")
    assert built.returncode == 0, built.stderr[-3000:]
    table = _table(tree)
    assert table.stat().st_mode & 0o777 == 0o444  # read-only, as in /opt
    before = table.read_bytes()
    cold = _cold(tree)
    assert cold["compiled"] == 0 and cold["installed"]
    assert table.read_bytes() == before  # only read


def test_a_cold_container_unmarshals_only_the_entries_it_uses(tmp_path: Path) -> None:
    """Loading the table costs in proportion to use: the entries of the modules whose classes are created are
    unmarshalled, and the rest of the table stays bytes."""
    tree = _tree(tmp_path)
    assert _run(tree, "-m", "dexa.core.codecache", "-", "dexa.*").returncode == 0
    cold = _cold(tree)
    assert cold["compiled"] == 0 and int(cold["created"]) > 20
    # N functions created: about N entries unmarshalled (a module's group also holds classes made later, in calls).
    assert cold["created"] <= cold["unmarshalled"] <= 1.2 * cold["created"], cold
    assert cold["code_objects"] == cold["loaded"]  # nothing else in the table was turned into code
    assert cold["loaded"] < cold["entries"] / 2, cold  # dexa.cloud and three modules: not the whole of dexa


def test_a_table_others_may_write_is_not_used(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    assert _run(tree, "-m", "dexa.core.codecache", "-", "dexa.*").returncode == 0
    _table(tree).chmod(0o664)  # group-writable: someone else could put code in it
    result = _cold(tree)
    assert result["installed"] and int(result["compiled"]) > 20
