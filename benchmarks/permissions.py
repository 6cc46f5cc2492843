"""Permission decision latency on a 200-rule settings stack (4 layers), 10k decisions on a realistic call mix.

Run: .venv/bin/python benchmarks/permissions.py [--decisions N]
Target: p50 <= 50 us, p99 <= 500 us per decision. Parses (bashlex) and compiled rules are cached, as in a session.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from typing import Any

from dexa.config.loader import load_settings
from dexa.permissions.bash import parse_command
from dexa.permissions.engine import PermissionEngine


def _rules(layer: str, n: int) -> dict[str, list[str]]:
    """n rules of every kind for one layer, spread over allow/ask/deny."""
    allow: list[str] = []
    ask: list[str] = []
    deny: list[str] = []
    tools = ["npm", "pnpm", "cargo", "go", "make", "pytest", "uv", "docker", "kubectl", "terraform"]
    for i in range(n):
        kind = i % 5
        if kind == 0:
            tool = tools[i % len(tools)]
            (allow if i % 3 else ask).append(f"Bash({tool} {layer}-task{i} *)")
        elif kind == 1:
            (allow if i % 4 else deny).append(f"Read({layer}/docs{i}/**)")
        elif kind == 2:
            (allow if i % 4 else deny).append(f"Edit(/src/{layer}/mod{i}/**/*.py)")
        elif kind == 3:
            (allow if i % 2 else deny).append(f"WebFetch(domain:*.{layer}{i}.example.com)")
        else:
            (allow if i % 3 else ask).append(f"mcp__{layer}srv{i}__get_*")
    deny.append("Bash(rm -rf *)")
    ask.append("Bash(git push *)")
    allow.extend(["Bash(npm test *)", "Bash(git log:*)"])
    return {"allow": allow, "ask": ask, "deny": deny}


def build(root: str) -> PermissionEngine:
    cwd, home = os.path.join(root, "repo"), os.path.join(root, "home")
    files = {
        "managed": os.path.join(root, "etc", "managed-settings.json"),
        "user": os.path.join(home, ".claude", "settings.json"),
        "project": os.path.join(cwd, ".claude", "settings.json"),
        "local": os.path.join(cwd, ".claude", "settings.local.json"),
    }
    for layer, path in files.items():
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as fh:
            json.dump({"permissions": _rules(layer, 46)}, fh)
    settings, problems = load_settings(cwd, home=home, managed_path=files["managed"], env={})
    assert not problems, problems
    return PermissionEngine(settings)


def calls(cwd: str) -> list[tuple[str, dict[str, Any], str]]:
    bash = [
        "npm test",
        "npm test -- --watch",
        "git status",
        "git status && npm test",
        "git log --oneline -20",
        "git diff HEAD~1 -- src/app.py",
        "ls -la src",
        "cat README.md | head -50",
        "grep -rn TODO src | wc -l",
        "NODE_ENV=test timeout 60 npm test",
        "cargo project-task10 build --release",
        "make local-task5",
        "pytest tests/unit -x -q",
        "npm install left-pad",
        "git push origin main",
        "rm -rf build",
        "cd src && ls",
        "echo done > out.log",
        "find . -name '*.py' -newer setup.py",
        "docker ps && docker images",
        "for f in *.py; do wc -l $f; done",
        "curl -s https://example.com | jq .",
        "python -c 'print(1)' && pip list",
        "kubectl get pods -n default | grep Running",
    ]
    out: list[tuple[str, dict[str, Any], str]] = [("Bash", {"command": c}, "default") for c in bash]
    out += [
        ("Read", {"file_path": f"{cwd}/src/app.py"}, "default"),
        ("Read", {"file_path": f"{cwd}/project/docs11/guide.md"}, "default"),
        ("Read", {"file_path": "/etc/hosts"}, "default"),
        ("Edit", {"file_path": f"{cwd}/src/project/mod12/a/b.py", "old_string": "a", "new_string": "b"}, "default"),
        ("Edit", {"file_path": f"{cwd}/src/other.py", "old_string": "a", "new_string": "b"}, "acceptEdits"),
        ("Write", {"file_path": f"{cwd}/.git/config", "content": ""}, "acceptEdits"),
        ("Grep", {"pattern": "TODO", "path": f"{cwd}/src"}, "default"),
        ("Glob", {"pattern": "**/*.py"}, "default"),
        ("WebFetch", {"url": "https://api.user13.example.com/v1", "prompt": "p"}, "default"),
        ("WebFetch", {"url": "https://docs.python.org/3/", "prompt": "p"}, "default"),
        ("mcp__projectsrv4__get_issue", {"id": 1}, "default"),
        ("mcp__slack__post_message", {"text": "hi"}, "default"),
        ("Agent", {"subagent_type": "Explore", "prompt": "look"}, "default"),
        ("TodoWrite", {"todos": []}, "default"),
        ("Bash", {"command": "npm run build"}, "plan"),
        ("Bash", {"command": "ls"}, "dontAsk"),
    ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--decisions", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        engine = build(root)
        cwd = engine.start_cwd
        mix = calls(cwd)
        rng = random.Random(args.seed)
        sequence = [rng.choice(mix) for _ in range(args.decisions)]
        parse_command.cache_clear()
        samples: list[float] = []
        cpu: list[float] = []
        outcomes: dict[str, int] = {}
        for tool, tool_input, mode in sequence:
            start, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
            decision = engine.decide(tool, tool_input, mode=mode, cwd=cwd)
            samples.append((time.perf_counter_ns() - start) / 1000)
            cpu.append((time.thread_time_ns() - start_cpu) / 1000)
            outcomes[decision.behavior] = outcomes.get(decision.behavior, 0) + 1
        p50, p99 = _report("wall", samples)
        cpu50, cpu99 = _report("cpu ", cpu)  # thread CPU time: the engine's own cost on a busy machine
        print(f"rules: {engine.rule_count} across 4 layers (managed, user, project, local)")
        print(f"decisions: {len(samples)} over {len(mix)} distinct calls; outcomes: {outcomes}")
        for label, a, b in (("wall", p50, p99), ("cpu", cpu50, cpu99)):
            verdict = f"p50 <= 50 us {'OK' if a <= 50 else 'MISSED'}, p99 <= 500 us {'OK' if b <= 500 else 'MISSED'}"
            print(f"targets ({label}): {verdict}")


def _report(label: str, samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    mean = statistics.fmean(ordered)
    print(f"{label} p50: {p50:.1f} us   p99: {p99:.1f} us   max: {ordered[-1]:.1f} us   mean: {mean:.1f} us")
    return p50, p99


if __name__ == "__main__":
    main()
