"""A finished `dexa` process ends with os._exit after flushing its output and running its exit handlers (logging,
atexit, weakref finalizers such as temporary directories); anywhere else, or with a non-daemon thread still running,
`finish` returns and the ordinary exit happens."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import atexit, sys, tempfile, threading, time
from pathlib import Path
from dexa.cli.process_exit import finish

out = Path(sys.argv[1])
tmp = tempfile.TemporaryDirectory()  # removed by its finalizer at exit
(out / "tmpdir").write_text(tmp.name)
atexit.register(lambda: (out / "atexit").write_text("ran"))
if sys.argv[2] == "thread":
    threading.Thread(target=time.sleep, args=(0.5,)).start()
sys.stdout.write("x" * 100000)  # buffered: must still arrive
finish(3)
print("finish returned")
"""


def _run(tmp_path: Path, name: str, mode: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / name
    script.write_text(SCRIPT)
    return subprocess.run(
        [sys.executable, str(script), str(tmp_path), mode], capture_output=True, text=True, timeout=120
    )


def test_the_dexa_process_ends_at_once_with_output_and_exit_handlers(tmp_path: Path) -> None:
    proc = _run(tmp_path, "dexa", "plain")  # named as the installed script is
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout == "x" * 100000  # complete, and nothing ran after finish
    assert (tmp_path / "atexit").read_text() == "ran"
    assert not Path((tmp_path / "tmpdir").read_text()).exists()


def test_an_importer_or_a_running_thread_gets_the_ordinary_exit(tmp_path: Path) -> None:
    imported = _run(tmp_path, "driver.py", "plain")
    assert imported.returncode == 0 and imported.stdout.endswith("finish returned\n"), imported.stderr
    threaded = _run(tmp_path, "dexa", "thread")
    assert threaded.returncode == 0 and threaded.stdout.endswith("finish returned\n"), threaded.stderr
    assert (tmp_path / "atexit").read_text() == "ran"
