"""`dexa demo` keeps its workspace, and every next step it prints works when pasted into a shell as printed.

The demo and each printed line are separate processes over one DEXA_HOME, as a user runs them: the session is
listed, its checkpoints listed, a rewind puts the bug back (the tests fail again), a resume continues the same
conversation (a scripted model behind the loopback Messages API stands in for the key), and the printed `rm -rf`
removes the workspace.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from dexa.testing.messages_api import serve
from dexa.testing.script import Script

ENV_DROP = ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN", "DEXA_SERVER", "CLAUDE_CODE_USE_BEDROCK")
TASK_START = "The tests in this repo fail."


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV_DROP}
    # `dexa` on PATH, as after `uv tool install .`: the printed lines call it by name.
    path = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env | {"DEXA_HOME": str(home / "dexa"), "HOME": str(home), "PATH": path, "COLUMNS": "80"} | extra


def _shell(home: Path, line: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", line], env=_env(home, **extra), cwd=home, capture_output=True, text=True, timeout=180
    )


def test_demo_keeps_its_workspace_and_every_printed_next_step_works(tmp_path: Path) -> None:
    demo = subprocess.run(
        [sys.executable, "-m", "dexa.cli", "demo"],
        env=_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    out = demo.stdout
    session_id = re.search(r"^session (ses_\w+)", out, re.M)
    assert session_id, out[-2000:]
    sid = session_id.group(1)
    repo = Path(re.search(r"^workspace kept at (\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    assert (repo / "invoice" / "totals.py").read_text().count("discount_pct / 100") == 1
    assert repo.is_relative_to(tmp_path / "dexa" / "demos"), "kept under the Dexa home, not a temp dir"

    printed = out[out.index("remove it when done:") :].splitlines()
    remove = printed[1].strip()
    steps = [line.strip() for line in printed[printed.index("next steps (each line pastes into a shell as is):") + 1 :]]
    assert remove.startswith("rm -rf ") and len(steps) == 5, printed
    sessions, checkpoints, rewind, tests, resume = steps

    done = _shell(tmp_path, sessions)
    assert done.returncode == 0 and sid in done.stdout.replace("\n", ""), done.stdout + done.stderr

    done = _shell(tmp_path, checkpoints)
    assert done.returncode == 0 and "ckpt_0001" in done.stdout, done.stdout + done.stderr

    done = _shell(tmp_path, rewind)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Rewound code to ckpt_0001" in done.stdout and "invoice/totals.py" in done.stdout
    assert "discount_pct / 100" not in (repo / "invoice" / "totals.py").read_text()

    done = _shell(tmp_path, tests)
    assert done.returncode != 0 and "FAILED" in done.stderr, "the bug is back, so the tests fail as printed"

    # The fake answers by how many assistant turns the history holds: the demo's 5 come back with the resume.
    script = {"turns": [{"text": "(the demo's turn)"}] * 5 + [{"text": "Resumed: noted."}]}
    with serve(Script.from_dict(script)) as server:
        done = _shell(tmp_path, resume, ANTHROPIC_BASE_URL=server.url, ANTHROPIC_API_KEY="test-key")
        requests = server.message_requests()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Resumed: noted." in done.stdout
    first = requests[0]["messages"][0]["content"]
    first_text = first if isinstance(first, str) else "".join(b.get("text", "") for b in first)
    assert first_text.startswith(TASK_START), "the resume continues the demo's conversation"

    done = _shell(tmp_path, remove)
    assert done.returncode == 0 and not repo.exists() and not repo.parent.exists()


def test_demo_no_keep_removes_the_workspace_and_says_so(tmp_path: Path) -> None:
    demo = subprocess.run(
        [sys.executable, "-m", "dexa.cli", "demo", "--no-keep"],
        env=_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "workspace removed (--no-keep)" in demo.stdout
    assert "next steps" not in demo.stdout
    assert list((tmp_path / "dexa" / "demos").iterdir()) == []
