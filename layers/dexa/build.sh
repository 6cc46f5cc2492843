#!/usr/bin/env bash
# Build the Dexa Lambda layer: the dexa wheel plus its runtime dependencies, for the Lambda runtime's platform.
#   layers/dexa/build.sh              -> layers/dexa/python/   (gitignored; `cdk deploy` bundles it itself)
#   layers/dexa/build.sh OUTPUT_DIR   -> OUTPUT_DIR/python/    (what the CDK local bundler calls)
# Needs the package index (uv, or pip, downloads manylinux wheels for the target); no docker.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${1:-$ROOT/layers/dexa}"
PY_VERSION="${DEXA_LAYER_PYTHON:-3.12}"
UV_PLATFORM="${DEXA_LAYER_PLATFORM:-aarch64-manylinux_2_28}"   # arm64 Lambda (stacks/common.py ARCH)
PIP_PLATFORM="${DEXA_LAYER_PIP_PLATFORM:-manylinux_2_28_aarch64}"
EXTRAS="${DEXA_LAYER_EXTRAS:-aws,modal}"
UV="${UV:-$(command -v uv || echo "$ROOT/.tools/bin/uv")}"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
rm -rf "$OUT/python"
mkdir -p "$OUT/python"

# The dexa wheel is pure Python and built here; every dependency must come as a binary wheel for the target.
if [ -x "$UV" ]; then
  "$UV" build --quiet --wheel --out-dir "$WORK" "$ROOT"
  WHEEL="$(ls "$WORK"/dexa-*.whl)"
  "$UV" pip install --quiet --target "$OUT/python" --python-platform "$UV_PLATFORM" \
    --python-version "$PY_VERSION" --only-binary :all: "${WHEEL}[${EXTRAS}]"
else
  PYTHON="${PYTHON:-python3}"
  "$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$WORK" "$ROOT"
  WHEEL="$(ls "$WORK"/dexa-*.whl)"
  "$PYTHON" -m pip install --quiet --target "$OUT/python" --platform "$PIP_PLATFORM" \
    --python-version "$PY_VERSION" --implementation cp --only-binary=:all: "${WHEEL}[${EXTRAS}]"
fi

# The Lambda runtime ships boto3/botocore; dropping them keeps the layer well under the 250 MB limit.
rm -rf "$OUT"/python/{boto3,botocore,s3transfer}{,-*.dist-info}
find "$OUT/python" -name '__pycache__' -type d -prune -exec rm -rf {} +
du -sh "$OUT/python" | awk '{print "dexa layer: " $1 " in " $2}'
