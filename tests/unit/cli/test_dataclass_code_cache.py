"""The dataclass code cache (dexa.cli.codecache): classes made with cached code behave as those made without it; the
`dexa` process writes the table once (owner-only) and the next one compiles nothing new; a table others may write,
or one from another interpreter, is not used. Each case runs in a fresh interpreter (the cache patches a module)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROBE = """
import dataclasses, json, sys
from dataclasses import dataclass, field

def make():
    @dataclass(frozen=True, slots=True, order=True)
    class Point:
        x: int
        y: int = 0
        tags: tuple = ()
        extra: list = field(default_factory=list, compare=False, repr=False)

        def norm(self) -> int:
            return abs(self.x) + abs(self.y)

    return Point

def behaviour(P):
    a, b = P(1, 2), P(1, 2, ("t",))
    out = [repr(a), a == P(1, 2), a < b, hash(a) == hash(P(1, 2)), a.norm(), P.__init__.__qualname__]
    try:
        a.x = 5
    except dataclasses.FrozenInstanceError as exc:
        out.append(type(exc).__name__)
    try:
        P()
    except TypeError as exc:
        out.append(str(exc))
    return out

before = behaviour(make())
from dexa.cli import codecache
codecache.install()
after = behaviour(make())
again = behaviour(make())
table = dataclasses.exec.__self__
print(json.dumps({"before": before, "after": after, "again": again, "loaded": table.loaded,
                  "added": table.added}))
"""


def _probe(home: Path) -> dict:
    env = {**os.environ, "DEXA_HOME": str(home)}
    proc = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def _table(home: Path) -> Path:
    [path] = (home / "cache").glob("dataclass-code-*.marshal")
    return path


def test_cached_code_makes_the_same_classes_and_is_written_once(tmp_path: Path) -> None:
    first = _probe(tmp_path)
    assert first["before"] == first["after"] == first["again"], first
    assert (
        first["before"][-2] == "FrozenInstanceError"
        and "missing 1 required positional argument: 'x'" in first["before"][-1]
    )
    assert first["loaded"] == 0 and first["added"] > 0
    path = _table(tmp_path)
    assert path.stat().st_mode & 0o777 == 0o600
    second = _probe(tmp_path)
    assert second["before"] == second["after"], second
    assert second["added"] == 0 and second["loaded"] == first["added"]  # compiled nothing: all from the table


def test_a_table_others_may_write_is_not_used(tmp_path: Path) -> None:
    _probe(tmp_path)
    path = _table(tmp_path)
    path.chmod(0o666)
    out = _probe(tmp_path)
    assert out["loaded"] == 0 and out["added"] > 0


def test_the_dexa_process_fills_the_table_and_the_next_run_adds_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "DEXA_HOME": str(home)}
    cmd = [sys.executable, "-m", "dexa.cli", "--version"]
    assert subprocess.run(cmd, env=env, capture_output=True, timeout=60).returncode == 0
    assert not (home / "cache").exists()  # --version creates no class worth caching: nothing installed
    cmd = [sys.executable, "-m", "dexa.cli", "run", "-p", "hi", "--server", "http://127.0.0.1:9", "--no-attach"]
    subprocess.run(cmd, env={**env, "DEXA_TOKEN": "t"}, capture_output=True, timeout=120)
    path = _table(home)
    stamp = path.stat().st_mtime_ns
    subprocess.run(cmd, env={**env, "DEXA_TOKEN": "t"}, capture_output=True, timeout=120)
    assert path.stat().st_mtime_ns == stamp  # the second process found every class's code in the table


def test_a_table_of_an_older_layout_or_cut_short_only_means_compiling(tmp_path: Path) -> None:
    import importlib.util
    import marshal

    first = _probe(tmp_path)
    path = _table(tmp_path)
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) - 200])  # the group of what the last process used, damaged: compiled again
    cut = _probe(tmp_path)
    assert cut["before"] == cut["after"] == first["before"], cut
    assert cut["loaded"] == 0 and cut["added"] == first["added"]
    assert path.read_bytes() != whole[: len(whole) - 200]  # rewritten whole
    # The layout before the index: (magic, {source: code object}), the same interpreter's magic.
    path.write_bytes(
        marshal.dumps((importlib.util.MAGIC_NUMBER, {"def __create_fn__(): pass": compile("1", "", "exec")}))
    )
    older = _probe(tmp_path)
    assert older["loaded"] == 0 and older["added"] == first["added"] and older["after"] == first["before"]
    assert _probe(tmp_path)["loaded"] == first["added"]  # written back in the current layout
