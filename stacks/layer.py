"""The Dexa Lambda layer: its target, an asset hash over everything that ends up in it, a build cache, and one
LayerVersion per stack.

Why one per stack: a layer exported from one stack and imported by another can never be replaced, because
CloudFormation refuses to update an export that is in use. Each stack builds its own LayerVersion from the same
asset (same hash, so `cdk deploy` uploads it once) and no stack references another's layer.

Why a custom hash: the asset's source directory (layers/dexa) holds only the build script; what the layer holds
comes from shared/dexa, pyproject.toml and uv.lock, so CDK's own source fingerprint would miss every code change.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
import pathspec
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

ROOT = Path(__file__).resolve().parents[1]
CONTEXT_ARCH = "dexa:lambdaArch"
CONTEXT_PYTHON = "dexa:lambdaPython"
DEFAULT_ARCH = "arm64"
DEFAULT_PYTHON = "3.12"
ARCHITECTURES = {"arm64": lambda_.Architecture.ARM_64, "x86_64": lambda_.Architecture.X86_64}
RUNTIMES = {"3.11": lambda_.Runtime.PYTHON_3_11, "3.12": lambda_.Runtime.PYTHON_3_12}
# Files outside shared/dexa whose bytes shape the layer (the lock pins it, pyproject names extras and the wheel).
LAYER_FILES = ("pyproject.toml", "uv.lock", ".gitignore", "layers/dexa/build.sh")
PACKAGE_DIR = "shared/dexa"
CACHE_ENV = "DEXA_LAYER_CACHE"
CACHE_KEEP = 4
LAYER_ID = "DexaLayer"


class LayerError(Exception):
    """A bad target or a failed layer build; the message names the cause."""


@dataclass(frozen=True, slots=True)
class LambdaTarget:
    """Where the functions run. Production is arm64/python3.12; x86_64/3.11 runs the emulated deployment here."""

    arch: str = DEFAULT_ARCH
    python: str = DEFAULT_PYTHON

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise LayerError(f"{CONTEXT_ARCH} must be one of {sorted(ARCHITECTURES)}, not {self.arch!r}")
        if self.python not in RUNTIMES:
            raise LayerError(f"{CONTEXT_PYTHON} must be one of {sorted(RUNTIMES)}, not {self.python!r}")

    @classmethod
    def of(cls, scope: Construct) -> LambdaTarget:
        """The target the CDK context selects (`-c dexa:lambdaArch=x86_64 -c dexa:lambdaPython=3.11`)."""
        arch = scope.node.try_get_context(CONTEXT_ARCH) or DEFAULT_ARCH
        python = scope.node.try_get_context(CONTEXT_PYTHON) or DEFAULT_PYTHON
        return cls(arch=str(arch), python=str(python))

    @property
    def runtime(self) -> lambda_.Runtime:
        return RUNTIMES[self.python]

    @property
    def architecture(self) -> lambda_.Architecture:
        return ARCHITECTURES[self.arch]

    @property
    def name(self) -> str:
        # No dot: CDK would take ".12-…" of a staged directory's name for a file extension.
        return f"{self.arch}-py{self.python.replace('.', '')}"


def _ignored(root: Path) -> pathspec.GitIgnoreSpec:
    """The repo's .gitignore, which the wheel build (hatchling) also honours: ignored files never reach the layer."""
    gitignore = root / ".gitignore"
    lines = gitignore.read_text().splitlines() if gitignore.is_file() else []
    return pathspec.GitIgnoreSpec.from_lines([*lines, "__pycache__/", "*.pyc"])


def layer_inputs(root: Path = ROOT) -> Iterator[tuple[str, Path]]:
    """(relative path, file) for every file whose bytes end up in the layer, in a stable order."""
    spec = _ignored(root)
    package = root / PACKAGE_DIR
    found = [path for path in package.rglob("*") if path.is_file() or path.is_symlink()]
    rels = sorted(path.relative_to(root).as_posix() for path in found)
    for rel in rels:
        if not spec.match_file(rel):
            yield rel, root / rel
    for rel in LAYER_FILES:
        if (root / rel).is_file():
            yield rel, root / rel


def _digest(target: LambdaTarget, inputs: Iterator[tuple[str, Path]]) -> str:
    digest = hashlib.sha256(f"dexa-layer/1 {target.arch} {target.python}\n".encode())
    for rel, path in inputs:
        data = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
        digest.update(f"{rel}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def layer_asset_hash(target: LambdaTarget, root: Path = ROOT) -> str:
    """sha256 over the target and every input file (path and bytes): any change to what ships changes it."""
    return _digest(target, layer_inputs(root))


def dependencies_hash(target: LambdaTarget, root: Path = ROOT) -> str:
    """The part of the layer that only the lock, pyproject and the build script decide (cached separately)."""
    return _digest(target, ((rel, root / rel) for rel in LAYER_FILES if (root / rel).is_file()))


def cache_root() -> Path:
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dexa" / "lambda-layers"


def built_layer(target: LambdaTarget, asset_hash: str, root: Path = ROOT) -> Path:
    """A directory holding python/ for this hash: reused when cached, else built by layers/dexa/build.sh.

    Built under a temporary name and renamed into place, so a concurrent synth never sees half a layer.
    """
    cache = cache_root()
    dest = cache / f"{target.name}-{asset_hash[:32]}"
    if (dest / "python").is_dir():
        os.utime(dest)  # most recently used: pruning keeps it
        return dest
    cache.mkdir(parents=True, exist_ok=True)
    staging = cache / f".{dest.name}.{os.getpid()}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    deps = cache / f"deps-{target.name}-{dependencies_hash(target, root)[:32]}"
    env = {
        **os.environ,
        "DEXA_LAYER_ARCH": target.arch,
        "DEXA_LAYER_PYTHON": target.python,
        "DEXA_LAYER_DEPS_DIR": str(deps),
    }
    started = time.monotonic()
    done = subprocess.run(
        ["bash", str(root / "layers" / "dexa" / "build.sh"), str(staging)], cwd=root, env=env, check=False
    )
    if done.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise LayerError(f"layers/dexa/build.sh failed for {target.name} (exit {done.returncode}); see its output")
    try:
        staging.rename(dest)
    except OSError:  # another process finished the same build first: its copy is identical
        shutil.rmtree(staging, ignore_errors=True)
    print(f"dexa layer {target.name} built in {time.monotonic() - started:.1f} s -> {dest}", flush=True)
    _prune(cache, keep=dest)
    return dest


def _prune(cache: Path, *, keep: Path) -> None:
    """Keep the few most recently used layers and dependency sets (~170 MB each, mostly hard links)."""
    for deps in (False, True):
        entries = sorted(
            (p for p in cache.iterdir() if p.is_dir() and "." not in p.name and p.name.startswith("deps-") == deps),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        for old in entries[CACHE_KEEP:]:
            if old != keep:
                shutil.rmtree(old, ignore_errors=True)


def _prestage(source: Path, stack: cdk.Stack, asset_hash: str) -> None:
    """Hard-link the cached layer to where CDK stages it (`asset.<sha256 of a custom hash>`), which CDK then
    keeps instead of copying ~15k files. Only a speed-up: if the name or the filesystem differs, CDK copies.
    Both copies are immutable (Lambda mounts layers read-only), so sharing inodes with the cache is safe."""
    stage = cdk.Stage.of(stack)
    if stage is None:
        return
    staged = Path(stage.outdir) / f"asset.{hashlib.sha256(asset_hash.encode()).hexdigest()}"
    if staged.exists():
        return
    staging = staged.with_name(f".{staged.name}.{os.getpid()}.tmp")
    linked = subprocess.run(["cp", "-al", str(source), str(staging)], capture_output=True, check=False)
    if linked.returncode == 0:
        try:
            staging.rename(staged)
        except OSError:
            pass
    shutil.rmtree(staging, ignore_errors=True)


_HASHES: dict[tuple[str, LambdaTarget], str] = {}


def _hash_for(stack: cdk.Stack, target: LambdaTarget) -> str:
    """One hash per app and target: every stack of one synth ships the same layer, and a later synth in the same
    process (a harness re-synthesizing after a code change) hashes the tree afresh."""
    key = (stack.node.root.node.addr, target)
    if key not in _HASHES:
        _HASHES[key] = layer_asset_hash(target, ROOT)
    return _HASHES[key]


def dexa_layer(scope: Construct) -> lambda_.LayerVersion:
    """The Dexa layer of the stack that holds `scope`, created on first use (one per stack, never exported)."""
    stack = cdk.Stack.of(scope)
    existing = stack.node.try_find_child(LAYER_ID)
    if isinstance(existing, lambda_.LayerVersion):
        return existing
    target = LambdaTarget.of(stack)
    asset_hash = _hash_for(stack, target)
    if stack.bundling_required:
        source, exclude = built_layer(target, asset_hash), []
        _prestage(source, stack, asset_hash)
    else:  # `aws:cdk:bundling-stacks` excludes this stack: same hash and template, nothing built or copied
        source, exclude = ROOT / "layers" / "dexa", ["python"]
    if target.python == "3.11":
        cdk.Annotations.of(stack).add_warning_v2(
            "dexa:layer-python311",
            "python3.11 is for the emulated deployment: Lambda's python3.11 runs on Amazon Linux 2 (glibc 2.26), "
            "which cannot load manylinux_2_28 wheels uv.lock pins (cbor2). Deploy to AWS with python3.12.",
        )
    return lambda_.LayerVersion(
        stack,
        LAYER_ID,
        code=lambda_.Code.from_asset(
            str(source), asset_hash=asset_hash, asset_hash_type=cdk.AssetHashType.CUSTOM, exclude=exclude
        ),
        compatible_runtimes=[target.runtime],
        compatible_architectures=[target.architecture],
        description=f"dexa and exactly the uv.lock runtime pins (boto3 included), bytecode for {target.runtime.name}",
        # Replaced versions are deleted after the update; functions keep their own copy of a layer they use.
        removal_policy=cdk.RemovalPolicy.DESTROY,
    )
