"""dexa.core.lazy: a package's names load on first use, through the import statement's machinery."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def _package(tmp_path: Path) -> Path:
    pkg = tmp_path / "lazypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        textwrap.dedent(
            """
            from dexa.core.lazy import lazy_exports
            __getattr__ = lazy_exports(__name__, {"Thing": ".thing", "other": ".other", "dumps": "json"})
            """
        )
    )
    (pkg / "thing.py").write_text("class Thing:\n    pass\n")
    (pkg / "other.py").write_text("def other():\n    return 42\n")
    return tmp_path


def _run(root: Path, code: str, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *flags, "-c", textwrap.dedent(code)],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )


def test_names_load_on_first_use_and_stay(tmp_path: Path) -> None:
    done = _run(
        _package(tmp_path),
        """
        import sys, lazypkg
        assert "lazypkg.thing" not in sys.modules
        thing = lazypkg.Thing
        assert thing.__name__ == "Thing" and "lazypkg.thing" in sys.modules
        assert vars(lazypkg)["Thing"] is thing  # set on the package: no second lookup
        assert lazypkg.other() == 42
        import json
        assert lazypkg.dumps is json.dumps  # an absolute module name
        try:
            lazypkg.missing
        except AttributeError as e:
            assert "'lazypkg' has no attribute 'missing'" in str(e), e
        else:
            raise SystemExit("no AttributeError")
        from lazypkg import Thing
        assert Thing is thing
        """,
    )
    assert done.returncode == 0, done.stderr


def test_importtime_sees_the_submodule(tmp_path: Path) -> None:
    """The cold-start benchmarks read -X importtime; a submodule loaded by name must appear in it."""
    done = _run(_package(tmp_path), "import lazypkg; lazypkg.Thing", "-X", "importtime")
    assert done.returncode == 0, done.stderr
    assert any(line.rstrip().endswith("lazypkg.thing") for line in done.stderr.splitlines()), done.stderr[-2000:]
