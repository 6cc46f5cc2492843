"""The universal workspace image's toolchains: one list (bin/toolchain.json) that the Modal image installs, the local
recipe (tools/workspace-image/recipe.sh) installs, and `check-tools` (bin/check-tools, on PATH in every sandbox at
/opt/dexa/bin) reports on."""

from .manifest import BIN_DIR, MANIFEST_PATH, SANDBOX_BIN, Toolchain, load_toolchain

__all__ = ["BIN_DIR", "MANIFEST_PATH", "SANDBOX_BIN", "Toolchain", "load_toolchain"]
