"""Fixtures for checkpoint functional tests; the rig itself lives in ckpt_rig.py so tests can import it."""

from __future__ import annotations

from pathlib import Path

import pytest
from ckpt_rig import Rig, make_rig


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return make_rig(tmp_path)
