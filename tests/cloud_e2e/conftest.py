"""The emulated deployment, shared by every scenario of this folder (deployed once per test process)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import Cloud, running
from .synth import ROOT, synthesize


@pytest.fixture(scope="session")
def cdk_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if "--out" not in (ROOT / "stacks" / "synth.py").read_text():
        pytest.skip("stacks.synth has no `--out` entry yet (the host-targeted cloud assembly)")
    return synthesize(log=tmp_path_factory.mktemp("synth") / "synth.log")


@pytest.fixture(scope="session")
def cloud(cdk_out: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    with running(cdk_out, tmp_path_factory.mktemp("cloud")) as deployed:
        yield deployed
