#!/bin/sh
# The universal workspace image, on a local Debian 12 / Ubuntu machine (or in a Dockerfile: RUN ./recipe.sh install).
# It reads the same list the Modal image is built from (shared/dexa/toolchain/bin/toolchain.json), so the two match.
#
#   recipe.sh list [--json]   the tools the image provides (names; --json: the full entries)
#   recipe.sh print           the install commands, in order (a Dockerfile-like listing; nothing runs)
#   recipe.sh install         run them (root, network): apt packages, pip packages, then each step
#   recipe.sh check           check-tools --strict: every listed tool is installed here
set -eu

here=$(cd "$(dirname "$0")" && pwd)
manifest=${TOOLCHAIN_MANIFEST:-"$here/../../shared/dexa/toolchain/bin/toolchain.json"}
check_tools="$(dirname "$manifest")/check-tools"

[ -r "$manifest" ] || { echo "recipe.sh: cannot read the toolchain list $manifest" >&2; exit 2; }
command -v python3 >/dev/null || { echo "recipe.sh: python3 is needed to read $manifest" >&2; exit 2; }

# One line per command, as the Modal image runs them: the version exports first, then apt, pip and the steps.
commands() {
  python3 - "$manifest" <<'PY'
import json, shlex, sys
doc = json.load(open(sys.argv[1], encoding="utf-8"))
for key, value in doc.get("versions", {}).items():
    print(f"export {key}={shlex.quote(value)}")
print("export DEBIAN_FRONTEND=noninteractive")
print("apt-get update")
print("apt-get install -y --no-install-recommends " + " ".join(shlex.quote(p) for p in doc["apt"]))
if doc.get("pip"):
    print("python3 -m pip install --break-system-packages " + " ".join(shlex.quote(p) for p in doc["pip"]))
for step in doc.get("steps", []):
    print(step["run"])
for key, value in doc.get("env", {}).items():
    print(f"export {key}={shlex.quote(value)}")
PY
}

case "${1:-}" in
  list)
    if [ "${2:-}" = "--json" ]; then
      python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["tools"], indent=2))' "$manifest"
    else
      python3 -c 'import json,sys; print("\n".join(t["name"] for t in json.load(open(sys.argv[1]))["tools"]))' "$manifest"
    fi
    ;;
  print)
    commands
    ;;
  install)
    [ "$(id -u)" = 0 ] || { echo "recipe.sh install: run as root (it installs system packages)" >&2; exit 2; }
    script=$(mktemp)
    trap 'rm -f "$script"' EXIT
    { echo "set -eux"; commands; } >"$script"
    sh "$script"
    install -d /opt/dexa/bin
    install -m 0755 "$check_tools" /opt/dexa/bin/check-tools
    install -m 0644 "$manifest" /opt/dexa/bin/toolchain.json
    echo "installed; put /opt/dexa/bin on PATH, then: check-tools"
    ;;
  check)
    exec "$check_tools" --strict
    ;;
  *)
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
    [ -z "${1:-}" ] || exit 2
    ;;
esac
