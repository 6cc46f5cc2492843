"""A Dexa process does not scan installed distributions for pydantic plugins (dexa.settings), unless the user set
PYDANTIC_DISABLE_PLUGINS, which then decides as pydantic documents. Each case runs in a fresh interpreter: the scan
happens once per process, at its first model build. The scan is seen through importlib.metadata.entry_points,
which pydantic's loader calls with group="pydantic"."""

from __future__ import annotations

import json
import os
import subprocess
import sys

# Records every entry-point lookup, then imports Dexa's settings and builds them, then builds a model of its own
# (as the anthropic SDK does after settings on the CLI and Lambda paths). Prints the groups looked up.
CHILD = """
import importlib.metadata as metadata, json
groups = []
real = metadata.entry_points
def spy(**kw):
    groups.append(kw.get("group"))
    return real(**kw)
metadata.entry_points = spy

from dexa.settings import get_settings
get_settings()
from pydantic import BaseModel
class Later(BaseModel):
    x: int = 1
Later(x=2)
print(json.dumps(groups))
"""


def _groups(env_extra: dict[str, str]) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"} | env_extra
    proc = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_no_plugin_scan_in_a_dexa_process() -> None:
    assert "pydantic" not in _groups({})


def test_the_users_setting_hands_the_choice_back_to_pydantic() -> None:
    # Set but naming no plugin: pydantic scans and loads every plugin, as without Dexa.
    assert _groups({"PYDANTIC_DISABLE_PLUGINS": ""}) == ["pydantic"]
    # pydantic's own "all off" is honoured without a scan either.
    assert "pydantic" not in _groups({"PYDANTIC_DISABLE_PLUGINS": "__all__"})


def test_the_switch_is_not_inherited_by_processes_dexa_starts() -> None:
    """Plugins stay off in this process only: hooks, MCP servers and Bash see no PYDANTIC_DISABLE_PLUGINS."""
    code = "import os, dexa.settings; print(os.environ.get('PYDANTIC_DISABLE_PLUGINS', 'unset'))"
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "unset", proc.stderr[-2000:]
