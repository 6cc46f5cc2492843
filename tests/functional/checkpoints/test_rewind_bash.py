"""Rewind after changes made through Bash (sed -i, rm, mv, git checkout, new files) restores the tree byte for byte."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ckpt_rig import Rig, tree

from dexa.testing.scripted import text, tool_use


def _git(root: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@x",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@x",
    }
    subprocess.run(["git", "-c", "init.defaultBranch=main", *args], cwd=root, check=True, capture_output=True, env=env)


def _seed_repo(root: Path) -> None:
    (root / "a.txt").write_text("hello world\nsecond line\n")
    (root / "b.txt").write_bytes(b"binary\x00\xff\xfe data")
    (root / "c.txt").write_text("to be moved\n")
    (root / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (root / "run.sh").chmod(0o755)
    (root / "src").mkdir()
    (root / "src" / "lib.py").write_text("VALUE = 1\n")
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "base")
    _git(root, "checkout", "-qb", "other")
    (root / "src" / "lib.py").write_text("VALUE = 2  # other branch\n")
    (root / "only_other.txt").write_text("exists on the other branch\n")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "other")
    _git(root, "checkout", "-q", "main")


BASH_CHANGES = (
    "sed -i 's/hello/HELLO/' a.txt && rm b.txt run.sh && mkdir -p moved && mv c.txt moved/c2.txt"
    " && printf 'fresh\\000file' > new.bin && mkdir -p deep/er && echo x > deep/er/f.txt"
    " && git -c core.hooksPath=/dev/null checkout -q other"
)


def test_code_rewind_after_bash_restores_the_tree_byte_for_byte(rig: Rig) -> None:
    _seed_repo(rig.root)
    before = tree(rig.root)
    rig.script([tool_use("Bash", {"command": BASH_CHANGES}), text("done")])
    rig.turn("change things")
    after = tree(rig.root)
    assert after != before and "new.bin" in after and "b.txt" not in after
    assert after["src/lib.py"] == b"VALUE = 2  # other branch\n"  # git checkout really ran

    checkpoints = rig.run(rig.service.list_checkpoints("s1"))
    first_prompt = [c for c in checkpoints if c["reason"] == "prompt"][-1]
    report = rig.run(rig.service.rewind("s1", checkpoint_id=first_prompt["id"], mode="code", on_conflict="ask"))

    assert report["status"] == "ok", report
    assert tree(rig.root) == before
    assert os.stat(rig.root / "run.sh").st_mode & 0o777 == 0o755
    assert not (rig.root / "deep").exists() and not (rig.root / "moved").exists()
    assert set(report["deleted"]) == {"new.bin", "moved/c2.txt", "deep/er/f.txt", "only_other.txt"}
    assert {"b.txt", "run.sh", "c.txt", "a.txt", "src/lib.py"} <= set(report["restored"])
    # Code-only: the conversation is untouched.
    assert report.get("messages_hidden") is None
    assert len(rig.run(rig.store.list_messages("s1"))) == 4


def test_checkpoints_are_taken_at_the_prompt_before_each_writing_tool_and_at_turn_end(rig: Rig) -> None:
    (rig.root / "f.txt").write_text("0\n")
    rig.script(
        [
            tool_use("Bash", {"command": "echo 1 > f.txt"}, id="tu_1"),
            tool_use("Bash", {"command": "echo 2 > f.txt"}, id="tu_2"),
            text("done"),
        ]
    )
    rig.turn()
    ckpts = list(reversed(rig.run(rig.service.list_checkpoints("s1"))))
    assert [c["reason"] for c in ckpts] == ["prompt", "tool", "tool", "turn_end"]
    assert [c["tool_use_id"] for c in ckpts[1:3]] == ["tu_1", "tu_2"]
    # A tool checkpoint's conversation position is the assistant message that asked for the tool.
    assert ckpts[1]["message_id"] == "t1a0" and ckpts[2]["message_id"] == "t1a1"
    assert ckpts[0]["message_id"] is None  # before the first prompt there is no conversation
    # The first tool checkpoint saw nothing new on disk and only moved the position: its delta is empty.
    assert ckpts[1]["changed"] == 0 and ckpts[2]["changed"] == 1
    created = rig.events("checkpoint.created")
    assert [e["checkpoint_id"] for e in created] == [c["id"] for c in ckpts]

    rig.run(rig.service.rewind("s1", checkpoint_id=ckpts[2]["id"], mode="code"))
    assert (rig.root / "f.txt").read_text() == "1\n"


def test_conversation_rewind_hides_messages_from_the_model_but_keeps_files_and_events(rig: Rig) -> None:
    rig.script([text("one"), tool_use("Bash", {"command": "echo 2 > two.txt"}), text("two"), text("three")])
    rig.turn("first prompt")
    rig.turn("second prompt")
    assert (rig.root / "two.txt").exists()
    second = next(c for c in rig.run(rig.service.list_checkpoints("s1")) if c["reason"] == "prompt")
    assert second["message_id"] == "t1a0"

    report = rig.run(rig.service.rewind("s1", checkpoint_id=second["id"], mode="conversation"))
    assert report["status"] == "ok" and report["messages_hidden"] == 4
    assert report["prompt"] == "second prompt"  # for the client to put back in the input box
    assert (rig.root / "two.txt").read_text() == "2\n"  # conversation-only leaves files alone
    visible = rig.run(rig.store.list_messages("s1"))
    assert [m.id for m in visible] == ["t1u", "t1a0"]
    assert len(rig.run(rig.store.list_messages("s1", include_hidden=True))) == 6

    session = rig.turn("third prompt")
    assert session.turns_completed == 3  # the turn counter never goes back
    last_request = rig.model.calls[-1] if rig.model else None
    assert last_request is not None
    texts = " ".join(m.text for m in last_request.messages)
    assert "third prompt" in texts and "first prompt" in texts
    assert "second prompt" not in texts and "two" not in texts
    user_events = [e["message"]["content"][0].get("text") for e in rig.events("message.user")]
    assert "second prompt" in user_events  # the event log keeps everything
    rewound = rig.events("session.rewound")
    assert rewound and rewound[0]["mode"] == "conversation" and rewound[0]["messages_hidden"] == 4


def test_rewinding_both_restores_files_and_conversation_to_the_same_point(rig: Rig) -> None:
    (rig.root / "notes.md").write_text("v1\n")
    rig.script(
        [
            tool_use("Bash", {"command": "echo v2 > notes.md"}),
            text("one"),
            tool_use("Bash", {"command": "echo v3 > notes.md && touch extra"}),
            text("two"),
        ]
    )
    rig.turn("first")
    after_first = tree(rig.root)
    rig.turn("second")
    second = next(c for c in rig.run(rig.service.list_checkpoints("s1")) if c["reason"] == "prompt")

    report = rig.run(rig.service.rewind("s1", checkpoint_id=second["id"], mode="both"))
    assert report["status"] == "ok"
    assert tree(rig.root) == after_first == {"notes.md": b"v2\n"}
    visible = rig.run(rig.store.list_messages("s1"))
    assert visible[-1].id == second["message_id"] and all(m.id.startswith("t1") for m in visible)
