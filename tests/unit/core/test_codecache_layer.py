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
import dexa.core.session, dexa.core.events, dexa.settings
print(json.dumps({"compiled": len(compiled), "installed": "exec" in vars(dataclasses)}))
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
    assert _cold(tree) == {"compiled": 0, "installed": True}
    assert table.read_bytes() == before  # only read


def test_a_table_others_may_write_is_not_used(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    assert _run(tree, "-m", "dexa.core.codecache", "-", "dexa.*").returncode == 0
    _table(tree).chmod(0o664)  # group-writable: someone else could put code in it
    result = _cold(tree)
    assert result["installed"] and int(result["compiled"]) > 20
