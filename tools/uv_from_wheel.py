"""Take the `uv` binary out of the uv wheel `pip download` fetched: `python3 tools/uv_from_wheel.py WHEEL_DIR DEST`.

The Makefile's bootstrap: pip fetches and hash-checks the pinned wheel from the index, and this unpacks the one
file Dexa needs. Installing the wheel with pip instead costs a few seconds more (it hashes and records 55 MB) for
nothing we use.
"""

from __future__ import annotations

import os
import shutil
import sys
import zipfile
from pathlib import Path


def main(wheel_dir: str, dest: str) -> int:
    wheels = sorted(Path(wheel_dir).glob("uv-*.whl"))
    if not wheels:
        print(f"uv_from_wheel: no uv wheel in {wheel_dir}", file=sys.stderr)
        return 1
    with zipfile.ZipFile(wheels[-1]) as wheel:
        names = [n for n in wheel.namelist() if n.endswith(".data/scripts/uv")]
        if not names:
            print(f"uv_from_wheel: {wheels[-1].name} has no .data/scripts/uv", file=sys.stderr)
            return 1
        tmp = Path(f"{dest}.part")
        with wheel.open(names[0]) as src, tmp.open("wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
    os.chmod(tmp, 0o755)
    tmp.replace(dest)  # atomic: a half-written uv is never found at DEST
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
