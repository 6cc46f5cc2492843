"""The table of compiled regular expressions (dexa.core.regexcache): a pattern built from the table is the one the
stdlib compiles (`Pattern.__eq__` compares the engine program too), the next process compiles nothing it has seen,
a pattern the parser may warn about still warns from its caller's line, and a table others may write, or one from
another interpreter, is not used. The `dexa` process installs it (cli/codecache.py)."""

from __future__ import annotations

import json
import marshal
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from dexa.core import regexcache
from dexa.core.regexcache import Table

STDLIB_COMPILE = re._compiler.compile  # pyright: ignore[reportAttributeAccessIssue]

PATTERNS: list[tuple[str | bytes, int]] = [
    (r"^(?P<key>[A-Za-z_][\w.-]*)\s*=\s*(?P<value>.*)$", re.MULTILINE),
    (r"(?i)x-api-key|authorization", 0),
    (
        r"""
        (?P<scheme>https?)://   # scheme
        (?P<host>[^/:]+)        # host
        (?::(?P<port>\d+))?     # port
     """,
        re.VERBOSE,
    ),
    (r"(?<=\bfoo)bar(?!baz)|(a)(b)?\2", re.ASCII),
    (r"[\u00e9\w]+", re.IGNORECASE | re.UNICODE),
    (rb"^HTTP/(\d)\.(\d) (?P<code>\d{3})", 0),
    (rb"[\x00-\x1f]+", re.DOTALL),
    (r"(?P<a>x)(?(a)y|z)", 0),
    (r"", 0),
]


def _same(a: re.Pattern[str] | re.Pattern[bytes], b: re.Pattern[str] | re.Pattern[bytes]) -> None:
    assert a == b  # pattern, flags and the engine program
    assert (a.flags, a.groups, dict(a.groupindex)) == (b.flags, b.groups, dict(b.groupindex))


def test_patterns_from_the_table_are_the_ones_the_stdlib_compiles(tmp_path: Path) -> None:
    path = tmp_path / "cache" / regexcache.FILE_NAME
    first = Table(path)
    for pattern, flags in PATTERNS:
        _same(first.compile(pattern, flags), STDLIB_COMPILE(pattern, flags))
    assert first.added == len(PATTERNS)
    first.save()
    assert path.stat().st_mode & 0o777 == 0o600

    second = Table(path)
    assert len(second.entries) == len(PATTERNS)
    for pattern, flags in PATTERNS:
        compiled = second.compile(pattern, flags)
        _same(compiled, STDLIB_COMPILE(pattern, flags))
    assert second.added == 0  # every program came from the table
    m = second.compile(PATTERNS[0][0], PATTERNS[0][1]).search("x\nuser.name = ada \n")
    assert m is not None and m.group("key", "value") == ("user.name", "ada ")


def test_a_save_keeps_only_the_patterns_this_process_used(tmp_path: Path) -> None:
    path = tmp_path / "t.marshal"
    first = Table(path)
    first.compile(r"kept\d", 0)
    first.compile(r"one-off rule \(git \*\)", 0)
    first.save()
    second = Table(path)
    second.compile(r"kept\d", 0)
    second.compile(r"new\s", 0)
    second.save()
    assert set(Table(path).entries) == {(r"kept\d", 0), (r"new\s", 0)}


def test_bad_patterns_fail_as_the_stdlib_fails(tmp_path: Path) -> None:
    table = Table(tmp_path / "t.marshal")
    for bad in ("(unclosed", "a{2,1}", "(?P<1x>a)"):
        with pytest.raises(re.error) as ours:
            table.compile(bad, 0)
        with pytest.raises(re.error) as theirs:
            STDLIB_COMPILE(bad, 0)
        assert (str(ours.value), ours.value.pos) == (str(theirs.value), theirs.value.pos)
    assert not table.entries


@pytest.mark.parametrize("pattern", ["[[a-z]]", "[a-z--]", "[a&&b]", "[a||b]", "[a~~b]"])
def test_a_pattern_that_may_warn_is_compiled_every_time_and_warns_every_time(tmp_path: Path, pattern: str) -> None:
    table = Table(tmp_path / "t.marshal")
    for _ in range(2):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            compiled = table.compile(pattern, 0)
        assert [w.category for w in caught] == [FutureWarning]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _same(compiled, STDLIB_COMPILE(pattern, 0))
    assert not table.entries


WARN_PROBE = """
import json, re, sys, warnings
if sys.argv[1] == "table":
    from pathlib import Path
    from dexa.core import regexcache
    regexcache.install(Path(sys.argv[2]))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    re.compile("[[a-z]]")  # the caller's line
print(json.dumps([(w.filename, w.lineno, str(w.message)) for w in caught]))
"""


def test_the_warning_points_at_the_callers_line_as_without_the_table(tmp_path: Path) -> None:
    def run(*args: str) -> list[list[object]]:
        cmd = [sys.executable, "-c", WARN_PROBE, *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    plain = run("plain")
    assert plain and plain[0][0] == "<string>", plain
    assert run("table", str(tmp_path / "t.marshal")) == plain


def test_a_table_others_may_write_or_from_another_interpreter_is_not_used(tmp_path: Path) -> None:
    path = tmp_path / "t.marshal"
    first = Table(path)
    first.compile(r"abc+", 0)
    first.save()
    path.chmod(0o664)
    assert not Table(path).entries
    path.chmod(0o600)
    assert Table(path).entries
    path.write_bytes(marshal.dumps(((0, 0), {(r"abc+", 0): (0, [1, 2, 3], 0, {}, (None,))})))
    assert not Table(path).entries  # another interpreter's key: its programs are not this engine's
    path.write_bytes(b"not marshal")
    assert not Table(path).entries


def test_the_dexa_process_fills_the_table_and_the_next_run_adds_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "DEXA_HOME": str(home), "DEXA_TOKEN": "t"}
    cmd = [sys.executable, "-m", "dexa.cli", "run", "-p", "hi", "--server", "http://127.0.0.1:9", "--no-attach"]
    subprocess.run(cmd, env=env, capture_output=True, timeout=120)
    path = home / "cache" / regexcache.FILE_NAME
    assert len(Table(path).entries) > 20  # the stdlib's and Dexa's module-level patterns
    stamp = path.stat().st_mtime_ns
    subprocess.run(cmd, env=env, capture_output=True, timeout=120)
    assert path.stat().st_mtime_ns == stamp  # the second process found every pattern in the table
