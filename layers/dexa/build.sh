#!/usr/bin/env bash
# Build the Dexa Lambda layer: exactly what uv.lock pins for the runtime (dependencies plus the aws, modal and otel
# extras, boto3 included), then the dexa wheel, as binary wheels for the target, with bytecode compiled by the
# target's own Python.
#   layers/dexa/build.sh [OUTPUT_DIR]   -> OUTPUT_DIR/python/   (default layers/dexa/, gitignored)
# Target: DEXA_LAYER_ARCH (arm64 | x86_64, default arm64), DEXA_LAYER_PYTHON (3.11 | 3.12, default 3.12).
# stacks/layer.py runs this with the CDK target and caches the result by its asset hash; no docker.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${1:-$ROOT/layers/dexa}"
PY="${DEXA_LAYER_PYTHON:-3.12}"
ARCH="${DEXA_LAYER_ARCH:-arm64}"
# otel: OpenTelemetry export when a function sets OTEL_EXPORTER_OTLP_ENDPOINT (~5 MB; never imported otherwise).
EXTRAS=(--extra aws --extra modal --extra otel)
UV="${UV:-$(command -v uv || echo "$ROOT/.tools/bin/uv")}"
die() { echo "layers/dexa/build.sh: $*" >&2; exit 2; }

case "$ARCH" in
  arm64) MACHINE=aarch64 ;;
  x86_64) MACHINE=x86_64 ;;
  *) die "DEXA_LAYER_ARCH must be arm64 or x86_64, not '$ARCH'" ;;
esac
# manylinux_2_28 wheels: Lambda's python3.12+ runs on AL2023 (glibc 2.34). Lambda's python3.11 runs on Amazon
# Linux 2 (glibc 2.26), which can't load some wheels the lock pins (cbor2 has only 2_28 ones), so a 3.11 layer is
# for the emulated deployment on this kind of machine (glibc 2.36), not for AWS (stacks/layer.py warns).
case "$PY" in
  3.11 | 3.12 | 3.13) GLIBC=2_28 ;;
  *) die "DEXA_LAYER_PYTHON must be 3.11, 3.12 or 3.13, not '$PY'" ;;
esac
[ -x "$UV" ] || die "uv not found (make sync installs it into .tools/bin)"

# The target's interpreter compiles the bytecode (a .pyc is only read by the minor version that wrote it).
find_python() {
  local cand
  for cand in "${DEXA_LAYER_PYTHON_BIN:-}" "$(command -v "python$PY" || true)" \
    "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$PY".*/bin/"python$PY"; do
    if [ -n "$cand" ] && [ -x "$cand" ] &&
      [ "$("$cand" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "$PY" ]; then
      echo "$cand"
      return 0
    fi
  done
  "$UV" python find --no-project "$PY" 2>/dev/null || return 1
}
TARGET_PY="$(find_python)" ||
  die "no Python $PY here to compile the layer's bytecode: install one (uv python install $PY) or set DEXA_LAYER_PYTHON_BIN"
FULL_VERSION="$("$TARGET_PY" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# unchecked-hash: the layer is immutable and a zip round trip changes mtimes, which would void timestamp pycs;
# -p names the files where Lambda mounts them (/opt/python) and keeps the build directory out of the bytes.
compile_tree() {
  "$TARGET_PY" -m compileall -q -j 0 --invalidation-mode unchecked-hash -s "$1" -p /opt/python "$2" \
    >"$WORK/compile.log" 2>&1 || { cat "$WORK/compile.log" >&2; die "bytecode compilation failed"; }
}

# Exactly the lock's pins (no resolution: --no-deps), markers evaluated for the target platform and version.
install_dependencies() {
  local dest="$1"
  mkdir -p "$dest"
  "$UV" export --quiet --project "$ROOT" --frozen --no-dev "${EXTRAS[@]}" --no-hashes --no-emit-project \
    --no-header --no-annotate --output-file "$WORK/requirements.txt"
  "$UV" pip install --quiet --no-config --target "$dest" --python-platform "$MACHINE-manylinux_$GLIBC" \
    --python-version "$FULL_VERSION" --only-binary :all: --no-deps -r "$WORK/requirements.txt"
  # Console scripts carry this machine's interpreter path; a layer has no use for them.
  rm -rf "$dest/bin"
  find "$dest" -name '__pycache__' -type d -prune -exec rm -rf {} +
  compile_tree "$dest" "$dest"
}

rm -rf "$OUT/python"
# DEXA_LAYER_DEPS_DIR (set by stacks/layer.py, keyed by the lock and the target) keeps the dependencies between
# builds, so a change under shared/dexa rebuilds only the dexa package (seconds, not a minute).
if [ -n "${DEXA_LAYER_DEPS_DIR:-}" ]; then
  if [ ! -d "$DEXA_LAYER_DEPS_DIR/python" ]; then
    STAGE="$DEXA_LAYER_DEPS_DIR.$$.tmp"
    rm -rf "$STAGE"
    install_dependencies "$STAGE/python"
    mv -T "$STAGE" "$DEXA_LAYER_DEPS_DIR" 2>/dev/null || rm -rf "$STAGE" # a concurrent build won: same bytes
  fi
  mkdir -p "$OUT"
  cp -al "$DEXA_LAYER_DEPS_DIR/python" "$OUT/python" # hard links: both are immutable caches
  touch "$DEXA_LAYER_DEPS_DIR" # most recently used: stacks/layer.py prunes the others
else
  install_dependencies "$OUT/python"
fi

mkdir -p "$WORK/dexa"
"$UV" build --quiet --wheel --out-dir "$WORK" "$ROOT"
"$UV" pip install --quiet --no-config --target "$WORK/dexa" --python-platform "$MACHINE-manylinux_$GLIBC" \
  --python-version "$FULL_VERSION" --no-deps "$(ls "$WORK"/dexa-*.whl)"
rm -rf "$WORK/dexa/bin"
find "$WORK/dexa" -name '__pycache__' -type d -prune -exec rm -rf {} +
compile_tree "$WORK/dexa" "$WORK/dexa"
# bashlex builds its parse tables at every import and a Lambda's home is fresh per container: build them once here,
# with the target's Python (pure Python, so any arch), and ship them read-only (dexa/permissions/bashlex_tables.py).
PYTHONPATH="$OUT/python" "$TARGET_PY" -S -P "$WORK/dexa/dexa/permissions/bashlex_tables.py" \
  "$WORK/dexa/dexa/permissions/bashlex_lr" >/dev/null || die "building bashlex's parse tables failed"
# The code dataclasses generate, compiled once here for every module a function may load, shipped read-only
# (dexa/core/codecache.py; dexa.cloud installs it): 100+ ms of CPU less in each cold API and step container.
# The same imports fill the table of regular expressions compiled at import (dexa/core/regexcache.py), shipped
# beside it: ~270 patterns parsed by re's Python compiler in each cold API container, ~40 ms of CPU. It is keyed
# by the exact interpreter version: a Lambda runtime whose patch release differs from the build's ignores it.
PYTHONPATH="$WORK/dexa:$OUT/python" DEXA_HOME="$WORK/home" "$TARGET_PY" -S -P -B -c '
import sys
from dexa.core import codecache, regexcache
regexcache.install(codecache.LAYER_TABLE.parent / regexcache.FILE_NAME)  # written at exit
codecache.build(codecache.LAYER_TABLE, sys.argv[1:])
' 'dexa.*' anthropic fastapi mangum aws_lambda_powertools botocore.session >/dev/null ||
  die "compiling the dataclass code and regex tables failed"
chmod 0444 "$WORK/dexa/dexa/_dataclass_code"/regex-code-*.marshal ||
  die "the regex table was not written (dexa/core/regexcache.py supports this Python?)"
# botocore's data files for the services Dexa calls, parsed once here and shipped as marshal beside the package
# (dexa/adapters/aws/botocore_data.py), by the layer's own botocore: ~50 ms of CPU less in each cold container's
# first AWS client.
PYTHONPATH="$WORK/dexa:$OUT/python" "$TARGET_PY" -S -P -B -m dexa.adapters.aws.botocore_data - >/dev/null ||
  die "pre-parsing botocore's data files failed"
cp -r "$WORK/dexa/." "$OUT/python/"
du -sh "$OUT/python" | awk -v t="$ARCH/python$FULL_VERSION" '{print "dexa layer (" t "): " $1 " in " $2}'
