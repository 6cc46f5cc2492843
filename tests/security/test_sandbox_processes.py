"""Processes outliving their command or session (issue 13 item 8): daemons a command double-forks or setsid's die
with the command; tracked background shells (and their daemons) die with the session. Checked by scanning /proc.

For foreground commands bwrap's PID namespace is the guarantee: when the command's shell exits, the namespace's
init exits and the kernel kills everything left in the namespace. The tests prove it rather than assume it.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sandbox_rig import make_workspace, needs_bwrap, tree_digest

from dexa.adapters.local_sandbox import LocalSandbox
from dexa.testing.procs import processes_with, wait_until

pytestmark = [pytest.mark.anyio, needs_bwrap]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _daemons(tag: str) -> str:
    # Four ways out of a shell's job control: subshell double fork, setsid, nohup+disown, a Python double fork.
    return (
        f"(setsid sleep 9{tag}1 >/dev/null 2>&1 &); "
        f"(sleep 9{tag}2 >/dev/null 2>&1 &) & "
        f"nohup sleep 9{tag}3 >/dev/null 2>&1 & disown; "
        'python3 -c "import os, time\n'
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        f"        os.execvp('sleep', ['sleep', '9{tag}4'])\n"
        '"; '
    )


async def test_daemons_started_by_a_command_die_when_it_ends(tmp_path: Path) -> None:
    root, state, outside = make_workspace(tmp_path)
    outside_before = tree_digest(outside)
    box = LocalSandbox(str(root), state_dir=str(state))
    tag = str(uuid.uuid4().int % 10**6)  # leftovers of an earlier run must not count
    # Positive control: while the command runs, its daemons are there to be found by the scan. Each starts when its
    # fork gets the CPU (a loaded machine can take longer than any fixed pause): wait for all four, up to 20 s.
    count = "pgrep -c -x sleep"
    wait = f'for _ in $(seq 200); do [ "$({count})" = 4 ] && break; sleep 0.1; done; {count}'
    running = await box.exec(_daemons(tag) + wait, cwd=str(root))
    assert running.stdout.strip() == "4", running
    assert await wait_until(lambda: not processes_with(f"sleep\x009{tag}"), timeout=3.0), processes_with(
        f"sleep\x009{tag}"
    )
    journaled = await box.exec(_daemons(tag) + "echo started", cwd=str(root), job_id="toolu_daemons")
    assert journaled.stdout == "started\n"
    assert await wait_until(lambda: not processes_with(f"sleep\x009{tag}"), timeout=3.0)
    await box.close()
    assert tree_digest(outside) == outside_before


async def test_background_shells_and_their_daemons_die_when_the_session_closes(tmp_path: Path) -> None:
    root, state, _ = make_workspace(tmp_path)
    box = LocalSandbox(str(root), state_dir=str(state))
    tag = str(uuid.uuid4().int % 10**6)
    await box.start_background(_daemons(tag) + f"sleep 9{tag}5", cwd=str(root), job_id="bg1")
    # A tracked background shell is allowed to outlive the command that started it: it is still there.
    assert await wait_until(lambda: len(processes_with(f"sleep\x009{tag}")) == 5, timeout=5.0)
    group = box._launcher.cgroup  # pyright: ignore[reportPrivateUsage]
    assert group is None or len(group.pids()) >= 5  # every process of the session is in its cgroup
    await box.close()
    assert await wait_until(lambda: not processes_with(f"sleep\x009{tag}"), timeout=3.0), processes_with(
        f"sleep\x009{tag}"
    )
