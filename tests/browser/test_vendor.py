"""The web UI's vendored libraries are the versions tools/web-vendor pins: a bump without `tools/web-vendor/build.sh`
(or a hand-edited copy) fails here, not in a user's browser."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "shared/dexa/web/static/vendor"
LOCK = ROOT / "tools/web-vendor/package-lock.json"


def test_vendored_copies_match_the_lock_file() -> None:
    packages = json.loads(LOCK.read_text())["packages"]
    pinned = json.loads((ROOT / "tools/web-vendor/package.json").read_text())["dependencies"]
    locked = {name: packages[f"node_modules/{name}"]["version"] for name in pinned}
    assert locked == pinned, "package.json and package-lock.json disagree: run npm install in tools/web-vendor"
    assert json.loads((VENDOR / "versions.json").read_text()) == locked, "rerun tools/web-vendor/build.sh"
    # Each copy names its version in its banner, so an edited or swapped file is caught too.
    assert f"markdown-it {locked['markdown-it']}" in (VENDOR / "markdown-it.min.js").read_text()[:200]
    assert f"DOMPurify {locked['dompurify']}" in (VENDOR / "purify.es.js").read_text()[:300]
