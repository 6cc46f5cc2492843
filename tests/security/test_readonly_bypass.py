"""Attack 4: "read-only" auto-approval ran code. In default mode with no allow rules, every command here must
ask; the genuinely read-only ones must still run without a prompt (so the fix is not "ask everything").

Each decision goes through the real PermissionEngine over settings loaded from a real repo, as a Bash tool call
is decided. `_tool_call` then does what the tool would: it runs the command with bash only if it was allowed,
so a regression executes the attack and the outside-tree check catches it too.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from dexa.config.loader import load_settings
from dexa.core.ports import PermissionDecision
from dexa.permissions.engine import PermissionEngine

# Shapes that run code, write a file or set configuration. `{out}` is a directory outside the workspace.
MUST_ASK = [
    # sort
    "printf x | sort -S 1 --compress-program=sh",
    "sort -S 1 --compress-program sh a.txt",
    "sort --compress-prog=sh a.txt",
    "sort --co=sh a.txt",
    "sort -o {out}/x a.txt",
    "sort -ro out.txt a.txt",
    "sort a.txt -oout.txt",
    "sort --output=out.txt a.txt",
    "sort -T {out} a.txt",
    "sort {{--compress-program=sh,a.txt}}",
    "sort $(printf -- --compress-program=sh) a.txt",
    "sort *",
    # find
    "find . -exec sh -c id \\;",
    "find . -execdir sh {{}} \\;",
    "find . -ok sh {{}} \\;",
    "find . -okdir sh {{}} \\;",
    "find . -fprintf {out}/x '%p'",
    "find . -fprint {out}/x",
    "find . -fprint0 out.txt",
    "find . -fls out.txt",
    "find . -name x -delete",
    "find . {{-exec,sh,\\;}}",
    # pagers and manuals: shell escapes, LESSOPEN, +!cmd
    "less README.md",
    "less '+!sh' README.md",
    "more README.md",
    "man -k x",
    "man ls",
    # environment assignments before a read-only command
    "LESSOPEN='|sh %s' cat a.txt",
    "LD_PRELOAD=/tmp/x.so cat a.txt",
    "PAGER=sh git -p log",
    "GIT_PAGER=sh git log",
    "EDITOR=sh git log",
    "GIT_EXTERNAL_DIFF=sh git diff",
    "GIT_CONFIG_PARAMETERS=\"'core.pager=sh'\" git log",
    "FOO=1 ls",
    # git
    "git -c core.pager=sh log",
    "git -c core.fsmonitor=sh status",
    "git --config-env=core.pager=X log",
    "git --exec-path=/tmp status",
    "git -p log",
    "git --paginate log",
    "git --git-dir=evil status",
    "git --work-tree={out} status",
    "git diff --ext-diff",
    "git diff --ext",
    "git show --ext-diff HEAD",
    "git log --output={out}/x",
    "git log --output x",
    "git log --outp=x",
    "git grep -O foo",
    "git grep -Ovim foo",
    "git grep -nO foo",
    "git grep --open-files-in-pager foo",
    "git difftool",
    "git diff --no-index {out}/x a.txt",
    "git blame --contents={out}/x a.txt",
    "git config core.pager sh",
    "git config core.pager get",
    "git config --get x --add y z",
    "git config -e",
    "git remote -v add x {out}",
    "git tag -l -d v1",
    "git tag v9",
    "git branch --set-upstream-to=x",
    "git help log",
    "git {{-c,core.pager=sh}} -p log",
    "git log *",
    # awk
    "awk 'BEGIN{{system(\"sh\")}}'",
    "awk 'BEGIN{{print | \"sh\"}}'",
    "awk 'BEGIN{{print |& \"sh\"}}'",
    "awk 'BEGIN{{print > \"out.txt\"}}'",
    "awk -f prog.awk a.txt",
    "awk '{{print $1}}' a.txt",
    # sed
    "sed -n '1e id' a.txt",
    "sed -n '1w out.txt' a.txt",
    "sed -n '1W out.txt' a.txt",
    "sed -n 's/a/b/e' a.txt",
    "sed -n 's/a/b/w out.txt' a.txt",
    "sed -i 's/a/b/' a.txt",
    "sed -n -f script.sed a.txt",
    # runners and wrappers: they run their argument
    "xargs cat",
    "echo a.txt | xargs cat",
    "xargs -0 cat",
    "env sh",
    "env -i cat a.txt",
    "env FOO=1 cat a.txt",
    "nice cat a.txt",
    "timeout 5 cat a.txt",
    "nohup cat a.txt",
    "stdbuf -oL cat a.txt",
    "command cat a.txt",
    "builtin echo x",
    "time cat a.txt",
    "exec cat a.txt",
    "eval ls",
    # archives and copies
    "tar --to-command=sh -xf x.tar",
    "tar -I sh -tf x.tar",
    "tar --use-compress-program=sh -tf x.tar",
    "tar --checkpoint-action=exec=sh -tf x.tar",
    "rsync -e sh a b",
    "rsync --rsh=sh a b",
    "rsync --rsync-path=sh a b",
    "zip -TT sh x.zip a.txt",
    "zip --unzip-command sh x.zip a.txt",
    # ripgrep helpers
    "rg --pre sh foo",
    "rg --pre=sh foo",
    "rg --hostname-bin=sh foo",
    "rg -z foo",
    "rg --search-zip foo",
    "rg -iz foo",
    "rg foo *",
    # output redirections, substitutions, here-documents
    "ls > {out}/x",
    "ls >> out.txt",
    "ls 2> err.txt",
    "ls &> out.txt",
    "ls 3> out.txt",
    "cat <> new.txt",
    "cat a.txt > .claude/settings.json",
    "cat <(sh -c id)",
    "cat >(sh) a.txt",
    "echo $(sh -c id)",
    "echo `sh -c id`",
    "cat <<EOF\n$(touch {out}/pwned)\nEOF",
    "cat <<EOF\n`touch {out}/pwned`\nEOF",
    # the rest of the set
    "echo x | tee out.txt",
    "date -s 2020-01-01",
    "date --set=2020-01-01",
    "date --se=2020-01-01",
    "hostname evil",
    "hostname -F name.txt",
    "xxd -r a.txt out.bin",
    "xxd -revert a.txt",
    "xxd a.txt out.txt",
    "uniq a.txt out.txt",
    "uniq *",
    "tree -o out.txt",
    "tree -R -H x",
    "file -C -m magic",
    "printf -v PATH /tmp",
    "printf $(echo -v) PATH bin",
    "test -v 'a[$(touch {out}/pwned)]'",
    "[ -v 'a[$(touch {out}/pwned)]' ]",
    "cat {{/etc/passwd,a.txt}}",
    "cd - && cat a.txt",
    "docker -H tcp://x ps",
    "docker --host=tcp://x ps",
    "docker --context evil ps",
    "docker -c evil ps",
    "docker --config={out} ps",
    "docker run ps",
    "docker exec x ps",
]

# Genuinely read-only commands that must stay auto-allowed.
STAYS_ALLOWED = [
    "ls -la src",
    "cat a.txt",
    "head -n 5 a.txt",
    "tail -5 a.txt",
    "wc -l src/*.py",
    "grep -rn TODO src",
    "grep -f a.txt README.md",
    "rg -n foo src",
    "rg --files",
    "find . -name '*.py'",
    "find . -type f -newer a.txt",
    "sort a.txt",
    "sort -n -k2 -t, a.txt",
    "sort -S 1M a.txt",
    "sort --files0-from=a.txt",
    "sort -u a.txt | uniq -c",
    "xxd -l 64 a.txt",
    "od -c a.txt",
    "column -t a.txt",
    "diff a.txt README.md",
    "diff --to-file=a.txt README.md",
    "diff <(ls src) <(ls .)",
    "echo $(pwd)",
    'echo "$HOME"',
    "printf '%s\\n' \"$HOME\"",
    "test -f a.txt",
    "[ -f a.txt ]",
    "jq . data.json",
    "jq --rawfile x a.txt . data.json",
    "sed -n '1,5p' README.md",
    "git status",
    "git diff HEAD~1",
    "git diff --stat",
    "git diff --no-ext-diff",
    "git diff --output-indicator-new=+",
    "git log --oneline -5",
    "git log --format='%h %s' -n 3",
    "git show HEAD@{{1}}",
    "git log @{{u}}..HEAD",
    "git branch -a",
    "git branch --list 'feat*'",
    "git tag -l 'v*'",
    "git remote -v",
    "git stash list",
    "git config --get user.name",
    "git config -l",
    "git config get user.email",
    "git grep -n foo",
    "git -P log -1",
    "git --no-pager log -1",
    "docker ps -a",
    "docker inspect --format '{{{{.State}}}}' x",
    "date +%s",
    "date -d yesterday",
    "hostname",
    "env",
    "command -v npm",
    "file --mime-type a.txt",
    "tree -L 2 src",
    "du -sh .",
    "cd src && ls",
    "ls 2>/dev/null",
    "cat a.txt | grep foo | wc -l",
    "cat <<EOF\nplain text\nEOF",
]


class Workspace:
    """A git repo with a project settings file, a home, and a canary tree outside both."""

    def __init__(self, tmp: Path) -> None:
        self.repo = tmp / "repo"
        self.home = tmp / "home"
        self.outside = tmp / "outside"
        for d in (self.repo / ".claude", self.repo / "src", self.home, self.outside):
            d.mkdir(parents=True)
        subprocess.run(["git", "init", "-q", str(self.repo)], check=True)
        (self.repo / ".claude" / "settings.json").write_text("{}\n")
        (self.repo / "a.txt").write_text("b\na\n")
        (self.repo / "README.md").write_text("# readme\n")
        (self.repo / "data.json").write_text('{"a": 1}\n')
        (self.outside / "canary.txt").write_text("untouched")
        settings, problems = load_settings(str(self.repo), home=str(self.home), env={})
        assert not problems, problems
        self.engine = PermissionEngine(settings)

    def state(self, root: Path) -> str:
        digest = hashlib.sha256()
        for path in sorted(root.rglob("*")):
            if ".git" in path.relative_to(root).parts:
                continue
            digest.update(str(path).encode())
            if path.is_file():
                digest.update(path.read_bytes())
        return digest.hexdigest()

    def tool_call(self, command: str) -> PermissionDecision:
        """Decide as the Bash tool call is decided; run it (as the tool would) only when it is allowed."""
        decision = self.engine.decide("Bash", {"command": command}, mode="default", cwd=str(self.repo))
        if decision.behavior == "allow":
            subprocess.run(
                ["bash", "-c", command],
                cwd=self.repo,
                env={"PATH": os.environ["PATH"], "HOME": str(self.home)},
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=10,
            )
        return decision


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)


def test_the_tables_are_big_enough_and_distinct() -> None:
    assert len(MUST_ASK) >= 40 and len(set(MUST_ASK)) == len(MUST_ASK)
    assert len(STAYS_ALLOWED) >= 20 and len(set(STAYS_ALLOWED)) == len(STAYS_ALLOWED)


@pytest.mark.parametrize("shape", MUST_ASK)
def test_write_or_exec_shapes_are_not_auto_approved(ws: Workspace, shape: str) -> None:
    command = shape.format(out=ws.outside)
    before = ws.state(ws.outside), ws.state(ws.repo / ".claude")
    decision = ws.tool_call(command)
    assert decision.behavior == "ask", f"{command!r} was {decision.behavior}: {decision.reason}"
    assert decision.source != "builtin:read-only"
    assert (ws.state(ws.outside), ws.state(ws.repo / ".claude")) == before


@pytest.mark.parametrize("command", STAYS_ALLOWED)
def test_genuinely_read_only_commands_still_run_without_a_prompt(ws: Workspace, command: str) -> None:
    decision = ws.engine.decide("Bash", {"command": command.format()}, mode="default", cwd=str(ws.repo))
    assert (decision.behavior, decision.source) == ("allow", "builtin:read-only"), decision.reason


def test_the_reason_names_the_dangerous_option(ws: Workspace) -> None:
    decision = ws.engine.decide(
        "Bash", {"command": "sort --compress-program=sh a.txt"}, mode="default", cwd=str(ws.repo)
    )
    assert "compress-program" in decision.reason, decision.reason
    decision = ws.engine.decide("Bash", {"command": "PAGER=sh git log"}, mode="default", cwd=str(ws.repo))
    assert "PAGER" in decision.reason, decision.reason


def test_plan_mode_refuses_the_disguised_writers(ws: Workspace) -> None:
    for command in ("sort -o out.txt a.txt", "timeout 5 find . -delete", "git -c core.pager=sh log"):
        decision = ws.engine.decide("Bash", {"command": command}, mode="plan", cwd=str(ws.repo))
        assert decision.behavior == "deny", decision.reason


# The payloads below really do what the table says when bash runs them: the attacks are real, not shapes.
LIVE_PAYLOADS = [
    "printf '%s\\n' 'touch {marker}' {{1..3000}} | sort -S 1 --compress-program=sh",
    "printf '%s\\n' 'touch {marker}' {{1..3000}} | sort -S 1 {{--compress-program=sh,-}}",
    "test -v 'a[$(touch {marker})]'",
    "cat <<EOF\n$(touch {marker})\nEOF",
]


@pytest.mark.parametrize("payload", LIVE_PAYLOADS)
def test_each_live_payload_works_when_run_directly_and_asks_through_dexa(ws: Workspace, payload: str) -> None:
    marker = ws.outside / "pwned"
    command = payload.format(marker=marker)
    subprocess.run(["bash", "-c", command], cwd=ws.repo, capture_output=True, timeout=30)
    assert marker.exists(), "control: the payload did not work, so the test below would prove nothing"
    marker.unlink()
    before = ws.state(ws.outside)
    assert ws.tool_call(command).behavior == "ask"
    assert not marker.exists() and ws.state(ws.outside) == before


# The chain from the report: sort's compressor is `sh`, and the sorted input is a script that plants a hook.
HOOK = {"hooks": {"PreToolUse": [{"hooks": [{"type": "command", "command": "touch HOOK_RAN"}]}]}}
PLANT = f"echo '{json.dumps(HOOK)}' > .claude/settings.json"
CHAIN = f"printf '%s\\n' {shlex.quote(PLANT)} {{1..3000}} | sort -S 1 --compress-program=sh"


def test_chain_payload_plants_a_hook_when_run_directly(tmp_path: Path) -> None:
    """Control for the chain below: run by plain bash, the command does rewrite .claude/settings.json."""
    repo = tmp_path / "scratch"
    (repo / ".claude").mkdir(parents=True)
    (repo / ".claude" / "settings.json").write_text("{}\n")
    subprocess.run(["bash", "-c", CHAIN], cwd=repo, capture_output=True, timeout=30)
    assert json.loads((repo / ".claude" / "settings.json").read_text()) == HOOK


def test_chain_read_only_bypass_does_not_plant_a_hook(ws: Workspace) -> None:
    """`dexa run -p` in default mode, no allow rules, scripted model: the Bash call is refused headless, the
    project settings file is untouched and nothing outside the workspace changed."""
    settings = ws.repo / ".claude" / "settings.json"
    before_settings, before_outside = settings.read_bytes(), ws.state(ws.outside)
    assert ws.engine.decide("Bash", {"command": CHAIN}, mode="default", cwd=str(ws.repo)).behavior == "ask"
    script = ws.outside.parent / "script.json"
    turns = [{"tool_uses": [{"name": "Bash", "input": {"command": CHAIN}}]}, {"text": "done"}]
    script.write_text(json.dumps({"turns": turns}))
    env = {**os.environ, "HOME": str(ws.home), "DEXA_HOME": str(ws.outside.parent / "dexa-home")}
    argv = [sys.executable, "-m", "dexa.cli", "run", "-p", "go", "--model", f"scripted:{script}"]
    out = subprocess.run(
        [*argv, "--output-format", "json"],
        cwd=ws.repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    assert [d["tool_name"] for d in result["permission_denials"]] == ["Bash"]
    assert settings.read_bytes() == before_settings
    assert not (ws.repo / "HOOK_RAN").exists()
    assert ws.state(ws.outside) == before_outside
