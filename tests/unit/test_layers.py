"""The layering of ARCHITECTURE.md, enforced: `lint-imports` over the contracts in pyproject.toml.

`make lint` runs the same command; this test puts it in `make test` (CI). The mutation tests prove the
contracts bite: a back-import or a cycle added to a copy of the package breaks the check, and so does an
ignore line that matches nothing (the list of known violations cannot go stale).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = REPO / "pyproject.toml"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
LAYERS = "surfaces -> wiring -> runtime -> features and adapters -> core"


def lint_imports(config: Path, tmp_path: Path, *, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    # Own cache dir: xdist workers must not race on the repository's .import_linter_cache.
    cmd = [str(LINT_IMPORTS), "--no-logo", "--cache-dir", str(tmp_path / "cache"), str(config)]
    # PYTHONPATH comes before the editable install, so `dexa` is then found in the given copy.
    env = {**os.environ, "PYTHONPATH": str(pythonpath)} if pythonpath else None
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=120, env=env)


def mutated(tmp_path: Path, old: str, new: str) -> Path:
    text = PYPROJECT.read_text()
    assert text.count(old) == 1, f"{old!r} is no longer in pyproject.toml: update this test"
    path = tmp_path / "pyproject.toml"
    path.write_text(text.replace(old, new))
    return path


def test_the_contracts_hold(tmp_path: Path) -> None:
    run = lint_imports(PYPROJECT, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    for contract in (
        "surfaces -> wiring",
        "core imports no vendor SDK",
        "leaf features",
        "no import cycles inside a package",
        "no import cycles between dexa's packages",
    ):
        assert contract in run.stdout
    assert "5 kept, 0 broken" in run.stdout


def package_copy(tmp_path: Path, module: str, line: str) -> Path:
    """A copy of the package with `line` appended to `module`: the contracts must catch what a developer adds."""
    copy = tmp_path / "src"
    shutil.copytree(REPO / "shared" / "dexa", copy / "dexa", ignore=shutil.ignore_patterns("__pycache__"))
    with (copy / module).open("a") as source:
        source.write(f"\n{line}  # noqa\n")
    return copy


@pytest.mark.parametrize(
    ("module", "line", "reported"),
    [
        # A feature importing a surface: what code/routes.py did before its routes moved to api/.
        ("dexa/code/setup.py", "from dexa.api import deps", "dexa.code.setup -> dexa.api.deps"),
        # A feature importing the runtime that assembles it.
        ("dexa/integrations/session_tools.py", "from dexa.runtime import envs", "dexa.integrations.session_tools ->"),
    ],
)
def test_a_back_import_breaks_the_layers(tmp_path: Path, module: str, line: str, reported: str) -> None:
    copy = package_copy(tmp_path, module, line)
    run = lint_imports(PYPROJECT, tmp_path, pythonpath=copy)
    assert run.returncode == 1
    assert reported in run.stdout
    assert f"{LAYERS} BROKEN" in run.stdout


def test_a_cycle_breaks_the_acyclic_contract(tmp_path: Path) -> None:
    # The MCP tools importing the manager that imports them: the cycle the McpHost protocol removed.
    copy = package_copy(tmp_path, "dexa/adapters/mcp/tools.py", "from .manager import McpManager")
    run = lint_imports(PYPROJECT, tmp_path, pythonpath=copy)
    assert run.returncode == 1
    assert "No cycles are allowed in dexa.adapters.mcp." in run.stdout
    assert "- .tools -> .manager" in run.stdout


def test_a_cycle_between_packages_breaks_the_package_contract(tmp_path: Path) -> None:
    # Adapters and features share a layer, so only the package-level contract sees this: the GitHub adapter
    # importing the code feature (as it did before the forge ports moved to core) while code imports the adapter.
    copy = package_copy(tmp_path, "dexa/adapters/github/provider.py", "from dexa.code import ports")
    run = lint_imports(PYPROJECT, tmp_path, pythonpath=copy)
    assert run.returncode == 1
    assert f"{LAYERS} KEPT" in run.stdout
    assert "no import cycles between dexa's packages BROKEN" in run.stdout
    assert "No cycles are allowed in dexa." in run.stdout
    assert "- .adapters -> .code (1 import)" in run.stdout


def test_a_fixed_violation_must_leave_the_list(tmp_path: Path) -> None:
    # An ignore_imports line that matches nothing is an error, so the list cannot go stale and hide a regression.
    anchor = 'type = "independence"\n'
    config = mutated(tmp_path, anchor, anchor + 'ignore_imports = ["dexa.core -> dexa.api"]\n')
    run = lint_imports(config, tmp_path)
    assert run.returncode != 0
    assert "dexa.core -> dexa.api" in run.stdout + run.stderr


def test_every_top_level_package_has_a_layer() -> None:
    # import-linter checks only the layers it is given: a new package left out of the list would escape the arrows.
    config = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]["contracts"]
    layers = next(c for c in config if c["id"] == "layers")["layers"]
    listed = {name.strip() for layer in layers for name in layer.split(":")}
    package = REPO / "shared" / "dexa"
    present = {p.stem for p in package.iterdir() if p.suffix == ".py" and p.stem != "__init__"}
    present |= {p.name for p in package.iterdir() if (p / "__init__.py").is_file()}
    assert present - listed == set(), f"add these to a layer of the layers contract: {sorted(present - listed)}"


def test_no_contract_ignores_an_import() -> None:
    # The known violations (AWS event handlers calling features from adapters/aws, `dexa acp` importing the CLI) were
    # fixed where they were; a new one is fixed too, not listed.
    contracts = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]["contracts"]
    ignoring = {c["id"]: c["ignore_imports"] for c in contracts if c.get("ignore_imports")}
    assert ignoring == {}, ignoring


def test_an_adapter_importing_a_feature_breaks_the_package_contract(tmp_path: Path) -> None:
    # What adapters/aws/webhooks.py did before Slack clicks moved to dexa.integrations.slack_clicks.
    copy = package_copy(tmp_path, "dexa/adapters/aws/sfn.py", "from dexa.integrations import slack_review")
    run = lint_imports(PYPROJECT, tmp_path, pythonpath=copy)
    assert run.returncode == 1
    assert "no import cycles between dexa's packages BROKEN" in run.stdout
    assert "- .adapters -> .integrations (1 import)" in run.stdout
