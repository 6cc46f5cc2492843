"""The Dexa layer as `cdk deploy` ships it: its asset hash covers what ends up in it, no stack exports it, the
target is chosen by CDK context, and the built layer holds exactly the lock's pins with bytecode that this
machine's Python runs (stacks/layer.py, layers/dexa/build.sh, `python -m stacks.synth`)."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import Marker
from stacks.layer import LAYER_FILES, PACKAGE_DIR, LambdaTarget, LayerError, layer_asset_hash

ROOT = Path(__file__).resolve().parents[2]
EMULATED = LambdaTarget(arch="x86_64", python="3.11")
EMULATED_CONTEXT = ["-c", "dexa:lambdaArch=x86_64", "-c", "dexa:lambdaPython=3.11"]


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of what the layer is built from: the package, pyproject, lock, .gitignore and the build script."""
    shutil.copytree(ROOT / PACKAGE_DIR, tmp_path / PACKAGE_DIR, ignore=shutil.ignore_patterns("__pycache__"))
    for rel in LAYER_FILES:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, tmp_path / rel)
    return tmp_path


def _flip_a_byte(path: Path) -> bytes:
    original = path.read_bytes()
    path.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    return original


def test_asset_hash_changes_with_every_file_that_ships_and_only_with_those(tree: Path) -> None:
    base = layer_asset_hash(EMULATED, tree)
    assert layer_asset_hash(EMULATED, tree) == base  # deterministic

    # Bytecode caches and gitignored files never reach the wheel, so they must not churn the hash.
    (tree / PACKAGE_DIR / "core" / "__pycache__").mkdir(exist_ok=True)
    (tree / PACKAGE_DIR / "core" / "__pycache__" / "errors.cpython-311.pyc").write_bytes(b"\x00" * 16)
    (tree / PACKAGE_DIR / "stray.pyc").write_bytes(b"\x00")
    (tree / PACKAGE_DIR / "x.egg-info").mkdir()
    (tree / PACKAGE_DIR / "x.egg-info" / "PKG-INFO").write_text("ignored")
    assert layer_asset_hash(EMULATED, tree) == base

    shipped = [
        tree / PACKAGE_DIR / "core" / "errors.py",
        tree / PACKAGE_DIR / "adapters" / "aws" / "lambda_entry.py",
        *(tree / rel for rel in LAYER_FILES),
    ]
    for path in shipped:
        original = _flip_a_byte(path)
        assert layer_asset_hash(EMULATED, tree) != base, path.relative_to(tree)
        path.write_bytes(original)
        assert layer_asset_hash(EMULATED, tree) == base, path.relative_to(tree)

    new_module = tree / PACKAGE_DIR / "core" / "new_module.py"
    new_module.write_text("X = 1\n")
    assert layer_asset_hash(EMULATED, tree) != base
    new_module.unlink()
    (tree / PACKAGE_DIR / "core" / "errors.py").rename(tree / PACKAGE_DIR / "core" / "errors2.py")
    assert layer_asset_hash(EMULATED, tree) != base, "a rename changes what ships"


def test_asset_hash_differs_per_target_and_bad_targets_are_named() -> None:
    hashes = {layer_asset_hash(LambdaTarget(a, p)) for a in ("arm64", "x86_64") for p in ("3.11", "3.12")}
    assert len(hashes) == 4
    with pytest.raises(LayerError, match="dexa:lambdaArch must be one of"):
        LambdaTarget(arch="sparc")
    with pytest.raises(LayerError, match="dexa:lambdaPython must be one of"):
        LambdaTarget(python="3.9")


def test_the_template_ships_the_layer_under_its_asset_hash_and_no_stack_exports_it(
    templates: dict[str, Any],
) -> None:
    layer_keys = set()
    for stack, template in templates.items():
        layers = _resources(template, "AWS::Lambda::LayerVersion")
        functions = _resources(template, "AWS::Lambda::Function")
        assert len(layers) == (1 if functions else 0), stack
        for name, fn in functions.items():
            # A Ref to this stack's own LayerVersion first: never Fn::ImportValue, never a literal ARN of ours. The
            # one other layer allowed is AWS's published Lambda Web Adapter (the event stream's response streaming).
            own, *others = fn["Properties"]["Layers"]
            assert own == {"Ref": next(iter(layers))}, (stack, name)
            assert all(":753240598075:layer:LambdaAdapterLayer" in json.dumps(o) for o in others), (stack, name, others)
        layer_keys |= {layer["Properties"]["Content"]["S3Key"] for layer in layers.values()}
        for layer_id in layers:
            for output in template.get("Outputs", {}).values():
                assert layer_id not in json.dumps(output), (stack, output)
        imports = [json.dumps(v) for v in _find(template, "Fn::ImportValue")]
        assert not [i for i in imports if "Layer" in i], (stack, imports)
    # One asset for all stacks: `cdk deploy` uploads it once (its key is checked against the hash below).
    assert len(layer_keys) == 1, layer_keys


def _find(node: Any, key: str) -> list[Any]:
    """Every value under `key` anywhere in a template."""
    if isinstance(node, dict):
        here = [node[key]] if key in node else []
        return here + [x for v in node.values() for x in _find(v, key)]
    if isinstance(node, list):
        return [x for v in node for x in _find(v, key)]
    return []


def test_context_selects_the_emulated_target_for_functions_and_layer(tmp_path: Path) -> None:
    from stacks.synth import synthesize

    context = {"dexa:lambdaArch": "x86_64", "dexa:lambdaPython": "3.11"}
    before = layer_asset_hash(EMULATED)
    templates = synthesize(tmp_path / "out", context=context)
    # On a shared work tree someone may edit shared/dexa during the synth; then only the key check is moot.
    stable = layer_asset_hash(EMULATED) == before
    functions = [f for t in templates.values() for f in _resources(t, "AWS::Lambda::Function").values()]
    assert len(functions) == len(_function_dirs())
    for fn in functions:
        assert fn["Properties"]["Runtime"] == "python3.11"
        assert fn["Properties"]["Architectures"] == ["x86_64"]
    for template in templates.values():
        for layer in _resources(template, "AWS::Lambda::LayerVersion").values():
            assert layer["Properties"]["CompatibleRuntimes"] == ["python3.11"]
            assert layer["Properties"]["CompatibleArchitectures"] == ["x86_64"]
            key = hashlib.sha256(before.encode()).hexdigest() + ".zip"
            assert layer["Properties"]["Content"]["S3Key"] == key or not stable


# ---------------------------------------------------------------- the built layer (needs the package index)


def _function_dirs() -> list[Path]:
    """Each function's code: a Python handler, or a run.sh the Lambda Web Adapter starts (the event stream)."""
    return [d for d in (ROOT / "functions").iterdir() if (d / "handler.py").exists() or (d / "run.sh").exists()]


def _synth_cli(out: Path) -> tuple[dict[str, Any], str, float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "stacks.synth", "--out", str(out), *EMULATED_CONTEXT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    summary = Path(done.stdout.strip().splitlines()[-1])
    return json.loads(summary.read_text()), done.stdout + done.stderr, time.monotonic() - started


def _locked(extras: tuple[str, ...] = ("aws", "modal", "otel")) -> dict[str, str]:
    uv = shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
    args = [uv, "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project", "--no-header", "--no-annotate"]
    for extra in extras:
        args += ["--extra", extra]
    lines = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=True).stdout.splitlines()
    # The emulated target: this machine's CPython on x86_64 Linux.
    target = {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64"}
    target |= {"implementation_name": "cpython", "platform_python_implementation": "CPython"}
    target |= {"python_version": "3.11", "python_full_version": platform.python_version()}
    pins: dict[str, str] = {}
    for line in lines:
        spec, _, marker = line.partition(";")
        name, _, version = spec.strip().partition("==")
        if name and (not marker.strip() or Marker(marker.strip()).evaluate(target)):
            pins[_normal(name)] = version
    return pins


def _normal(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _installed(layer: Path) -> dict[str, str]:
    found = {}
    for info in layer.glob("*.dist-info"):
        meta = (info / "METADATA").read_text(errors="replace").splitlines()
        name = next(line.split(":", 1)[1].strip() for line in meta if line.startswith("Name:"))
        version = next(line.split(":", 1)[1].strip() for line in meta if line.startswith("Version:"))
        found[_normal(name)] = version
    return found


@pytest.mark.slow
def test_synth_bundles_a_layer_of_exactly_the_lock_that_imports_here_from_bytecode(tmp_path: Path) -> None:
    first, _, _ = _synth_cli(tmp_path / "a")
    functions = {name: fn for stack in first["stacks"] for name, fn in stack["functions"].items()}
    assert len(functions) == len(_function_dirs())
    (layer_dir,) = {layer for fn in functions.values() for layer in fn["layers"]}
    layer = Path(layer_dir) / "python"

    installed = _installed(layer)
    assert installed.pop("dexa") == "0.1.0"
    assert installed == _locked(), "the layer must hold exactly what uv.lock pins"
    assert installed["boto3"] == _locked()["boto3"], "boto3 is pinned in the layer, not taken from the runtime"
    assert not (layer / "bin").exists()

    # Bytecode for the target's version, hash-based and unchecked (a zip round trip changes mtimes), named
    # where Lambda mounts the layer.
    pyc = layer / "dexa" / "core" / "__pycache__" / "errors.cpython-311.pyc"
    header = pyc.read_bytes()[:16]
    assert int.from_bytes(header[4:8], "little") == 0b01, "unchecked-hash pyc"
    assert b"/opt/python/dexa/core/errors.py" in pyc.read_bytes()
    assert not list(layer.rglob("*.cpython-312.pyc"))
    sources = {p.with_suffix("") for p in layer.joinpath("dexa").rglob("*.py")}
    compiled = {p.parent.parent / p.name.split(".")[0] for p in layer.joinpath("dexa").rglob("*.cpython-311.pyc")}
    assert sources == compiled
    # The code dataclasses generate, compiled for the target at build and shipped read-only (dexa.core.codecache).
    (table,) = (layer / "dexa" / "_dataclass_code").glob("dataclass-code-cpython-311.marshal")
    assert table.stat().st_mode & 0o222 == 0 and table.stat().st_size > 100_000
    # botocore's data for Dexa's services, pre-parsed at build by the layer's own botocore (botocore_data.py).
    shipped = layer / "dexa" / "_botocore_data"
    assert (shipped / "index-cpython-311.marshal").stat().st_mode & 0o222 == 0
    assert (shipped / "dynamodb" / "2012-08-10" / "service-2.marshal").is_file()
    # The programs of the regular expressions compiled at import, beside the dataclass code (dexa.core.regexcache).
    (regexes,) = (layer / "dexa" / "_dataclass_code").glob("regex-code-cpython-311.marshal")
    assert regexes.stat().st_mode & 0o222 == 0 and regexes.stat().st_size > 50_000

    python = Path(sys.base_prefix) / "bin" / "python3.11"
    pycs_before = {p: p.stat().st_mtime_ns for p in layer.rglob("*.pyc")}
    for name, fn in functions.items():
        env = {k: v for k, v in fn["environment"].items() if isinstance(v, str)}
        env |= {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "AWS_REGION": "us-east-1"}
        env |= {"AWS_DEFAULT_REGION": "us-east-1", "PYTHONPATH": f"{layer}:{fn['code']}"}
        # The event stream has no handler module: its run.sh starts dexa.cloud.stream under the Web Adapter.
        entry = "handler" if (Path(fn["code"]) / "handler.py").exists() else "dexa.cloud.stream"
        probe = (
            f"import {entry}, dexa, boto3, pydantic_core; from dexa.adapters.aws.botocore_data import loader; "
            "assert loader() is not None, 'the shipped botocore data is not used'; import re._compiler as c; "
            "assert type(c.compile.__self__).__module__ == 'dexa.core.regexcache', 'no regex table'; "
            "print(dexa.__file__, boto3.__file__)"
        )
        done = subprocess.run([str(python), "-S", "-c", probe], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (name, done.stderr[-3000:])
        assert all(path.startswith(str(layer)) for path in done.stdout.split()), (name, done.stdout)
    # Python would have rewritten any pyc it could not use; none was, and none was added.
    assert {p: p.stat().st_mtime_ns for p in layer.rglob("*.pyc")} == pycs_before

    # A second synth of the unchanged tree reuses the cached layer: nothing is built. (On a shared work tree
    # someone may edit shared/dexa meanwhile; then a rebuild is right, and the hash says so.)
    before = layer_asset_hash(EMULATED)
    second, output, _ = _synth_cli(tmp_path / "b")
    if layer_asset_hash(EMULATED) != before:
        return
    assert "built in" not in output, output[-2000:]
    again = {layer for stack in second["stacks"] for fn in stack["functions"].values() for layer in fn["layers"]}
    assert {Path(p).name for p in again} == {Path(layer_dir).name}


def test_python_m_stacks_synth_names_a_bad_context_value(tmp_path: Path) -> None:
    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    done = subprocess.run(
        [sys.executable, "-m", "stacks.synth", "--out", str(tmp_path), "--no-bundle", "-c", "dexa:lambdaArch=sparc"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0
    assert "dexa:lambdaArch must be one of ['arm64', 'x86_64'], not 'sparc'" in done.stderr
