"""tools/uv_from_wheel.py, as the Makefile's uv bootstrap runs it on the wheel `pip download` fetched."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "uv_from_wheel.py"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60)


def wheel(directory: Path, members: dict[str, bytes]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "uv-0.9.30-py3-none-manylinux_2_17_x86_64.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_the_binary_is_unpacked_executable_and_nothing_else(tmp_path: Path) -> None:
    binary = b"\x7fELF" + os.urandom(4096)
    wheel(
        tmp_path / "wheels",
        {
            "uv/__init__.py": b"",
            "uv-0.9.30.data/scripts/uvx": b"not this one",
            "uv-0.9.30.data/scripts/uv": binary,
        },
    )
    dest = tmp_path / "bin" / "uv"
    dest.parent.mkdir()
    run_ = run(str(tmp_path / "wheels"), str(dest))
    assert run_.returncode == 0, run_.stderr
    assert dest.read_bytes() == binary
    assert os.access(dest, os.X_OK)
    assert sorted(p.name for p in dest.parent.iterdir()) == ["uv"]  # no .part left behind


def test_a_missing_wheel_or_binary_is_named(tmp_path: Path) -> None:
    dest = tmp_path / "uv"
    empty = run(str(tmp_path), str(dest))
    assert empty.returncode == 1 and f"no uv wheel in {tmp_path}" in empty.stderr
    wheel(tmp_path, {"uv/__init__.py": b""})
    hollow = run(str(tmp_path), str(dest))
    assert hollow.returncode == 1 and "has no .data/scripts/uv" in hollow.stderr
    assert not dest.exists()
