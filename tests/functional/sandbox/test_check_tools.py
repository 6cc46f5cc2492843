"""`check-tools` inside the local bubblewrap sandbox, checked against the local recipe's tool list: the same names, in
the same order; what this machine has is reported with the version the tool itself prints, what it lacks as missing
(never a crash), and the list is the one the Modal image is built from."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from dexa.adapters.local_sandbox import LocalSandbox
from dexa.runtime.prompt import build_system_prompt
from dexa.toolchain import load_toolchain

pytestmark = pytest.mark.anyio
REPO = Path(__file__).resolve().parents[3]
RECIPE = REPO / "tools" / "workspace-image" / "recipe.sh"
HOST_SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # what the sandbox binds


def recipe(*args: str) -> str:
    return subprocess.run([str(RECIPE), *args], check=True, capture_output=True, text=True, timeout=60).stdout


async def test_check_tools_reports_the_recipes_tools_with_versions(sandbox: LocalSandbox, root: Path) -> None:
    names = recipe("list").split()
    assert names == list(load_toolchain().tool_names)
    assert {"node", "npm", "yarn", "pnpm", "bun", "python3", "uv", "go", "java", "rustc", "cargo"} <= set(names)
    assert {"postgres", "redis-server"} <= set(names)

    res = await sandbox.exec("check-tools --json", cwd=str(root), timeout_s=120)
    assert res.exit_code == 0, res.stderr
    report = json.loads(res.stdout)
    assert [t["name"] for t in report["tools"]] == names
    for tool in report["tools"]:
        here = shutil.which(tool["name"], path=HOST_SYSTEM_PATH)
        assert tool["installed"] is (here is not None), tool
        if here is None:
            assert tool["name"] in report["missing"] and tool["version"] is None
    by_name = {t["name"]: t for t in report["tools"]}
    host_git = subprocess.run(["git", "--version"], capture_output=True, text=True, check=True).stdout
    assert by_name["git"]["installed"] and by_name["git"]["version"] in host_git
    assert by_name["python3"]["version"] and re.fullmatch(r"3\.\d+\.\d+", by_name["python3"]["version"])
    assert "start" in by_name["postgres"] and "redis-server" in by_name["redis-server"]["start"]

    human = await sandbox.exec("check-tools", cwd=str(root), timeout_s=120)
    assert human.exit_code == 0
    installed = sum(1 for t in report["tools"] if t["installed"])
    assert human.stdout.rstrip().splitlines()[-1].startswith(f"{installed} of {len(names)} installed")
    for name in names:
        assert re.search(rf"^  {re.escape(name)} ", human.stdout, re.M), name


async def test_missing_and_broken_tools_are_reported_not_fatal(sandbox: LocalSandbox, root: Path) -> None:
    manifest = root / "tools.json"
    manifest.write_text(
        json.dumps({"tools": [{"name": "git"}, {"name": "no-such-tool-dexa"}, {"name": "false", "version": ["false"]}]})
    )
    env = {"CHECK_TOOLS_MANIFEST": str(manifest)}
    res = await sandbox.exec("check-tools --json", cwd=str(root), env=env, timeout_s=60)
    assert res.exit_code == 0, res.stderr
    got = {t["name"]: t for t in json.loads(res.stdout)["tools"]}
    assert got["no-such-tool-dexa"]["installed"] is False and got["no-such-tool-dexa"]["detail"] == "not found on PATH"
    assert got["false"]["installed"] is True and got["false"]["version"] is None
    assert "exited 1" in got["false"]["detail"]
    strict = await sandbox.exec("check-tools --strict", cwd=str(root), env=env, timeout_s=60)
    assert strict.exit_code == 1 and "missing: no-such-tool-dexa" in strict.stdout
    broken = await sandbox.exec(
        "check-tools", cwd=str(root), env={"CHECK_TOOLS_MANIFEST": str(root / "absent.json")}, timeout_s=60
    )
    assert broken.exit_code == 2 and "cannot read the tool list" in broken.stderr


async def test_the_recipe_installs_what_the_modal_image_installs_and_the_agent_is_told() -> None:
    listing = recipe("print").splitlines()
    toolchain = load_toolchain()
    assert [line for line in listing if line in {run for _, run in toolchain.steps}] == [r for _, r in toolchain.steps]
    assert any(line.startswith("apt-get install") and "postgresql" in line for line in listing)
    assert "run `check-tools` first" in build_system_prompt(cwd="/w")
