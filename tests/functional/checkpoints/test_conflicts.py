"""Files changed outside Dexa are protected on rewind: ask shows them, keep_copy saves them, overwrite can be undone."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from ckpt_rig import Rig, tree

from dexa.core.errors import CheckpointNotFoundError, ConflictError, DexaError
from dexa.core.session import TurnState
from dexa.testing.scripted import text, tool_use


def _session_with_bash_change(rig: Rig) -> str:
    (rig.root / "a.txt").write_text("original\n")
    (rig.root / "keep.txt").write_text("stable\n")
    rig.script([tool_use("Bash", {"command": "echo by-dexa > a.txt"}), text("done")])
    rig.turn()
    return next(c for c in rig.run(rig.service.list_checkpoints("s1")) if c["reason"] == "prompt")["id"]


def _edit_externally(rig: Rig) -> None:
    (rig.root / "a.txt").write_text("edited in my editor\n")
    (rig.root / "notes.txt").write_text("my own notes\n")


def test_ask_reports_external_edits_and_changes_nothing(rig: Rig) -> None:
    first = _session_with_bash_change(rig)
    _edit_externally(rig)
    before = tree(rig.root)
    messages = len(rig.run(rig.store.list_messages("s1")))

    report = rig.run(rig.service.rewind("s1", checkpoint_id=first, mode="both", on_conflict="ask"))

    assert report["status"] == "conflict"
    assert report["conflicts"] == ["a.txt", "notes.txt"]
    assert tree(rig.root) == before
    assert len(rig.run(rig.store.list_messages("s1"))) == messages
    assert rig.events("session.rewound") == []
    # Asking again still asks: looking did not silently record the external content as known.
    again = rig.run(rig.service.rewind("s1", checkpoint_id=first, mode="code", on_conflict="ask"))
    assert again["status"] == "conflict"


def test_changes_dexa_recorded_are_not_conflicts(rig: Rig) -> None:
    first = _session_with_bash_change(rig)
    report = rig.run(rig.service.rewind("s1", checkpoint_id=first, mode="code", on_conflict="ask"))
    assert report["status"] == "ok" and report["conflicts"] == []
    assert (rig.root / "a.txt").read_text() == "original\n"
    # Going forward again: the content Bash wrote is a recorded state, so it is not a conflict either.
    (rig.root / "a.txt").write_text("by-dexa\n")
    back = rig.run(rig.service.rewind("s1", checkpoint_id=first, mode="code", on_conflict="ask"))
    assert back["status"] == "ok"


def test_keep_copy_saves_external_edits_before_restoring(rig: Rig) -> None:
    first = _session_with_bash_change(rig)
    _edit_externally(rig)
    report = rig.run(rig.service.rewind("s1", checkpoint_id=first, mode="code", on_conflict="keep_copy"))

    assert report["status"] == "ok"
    assert tree(rig.root) == {"a.txt": b"original\n", "keep.txt": b"stable\n"}
    copies = {k["path"]: k["copy"] for k in report["kept_copies"]}
    assert set(copies) == {"a.txt", "notes.txt"}
    assert (rig.root / copies["a.txt"]).read_text() == "edited in my editor\n"
    assert (rig.root / copies["notes.txt"]).read_text() == "my own notes\n"
    assert copies["a.txt"].startswith(".dexa/backups/")
    # Backups are never part of a checkpoint, so a later rewind cannot delete them.
    rig.run(rig.service.rewind("s1", checkpoint_id=first, mode="code", on_conflict="overwrite"))
    assert (rig.root / copies["a.txt"]).exists()


def test_overwrite_proceeds_and_the_undo_checkpoint_brings_the_external_edit_back(rig: Rig) -> None:
    first = _session_with_bash_change(rig)
    _edit_externally(rig)
    report = rig.run(rig.service.rewind("s1", checkpoint_id=first, mode="code", on_conflict="overwrite"))
    assert report["status"] == "ok" and report["conflicts"] == ["a.txt", "notes.txt"]
    assert (rig.root / "a.txt").read_text() == "original\n" and not (rig.root / "notes.txt").exists()

    undo = rig.run(rig.service.rewind("s1", checkpoint_id=report["undo_checkpoint_id"], mode="code"))
    assert undo["status"] == "ok"
    assert (rig.root / "a.txt").read_text() == "edited in my editor\n"
    assert (rig.root / "notes.txt").read_text() == "my own notes\n"


def test_rewind_is_refused_while_a_turn_is_running(rig: Rig) -> None:
    first = _session_with_bash_change(rig)
    session = rig.run(rig.store.get_session("s1"))
    rig.run(
        rig.store.update_session(
            replace(session, status="running", turn_state=TurnState(turn=2, step="call_model", started_at=time.time()))
        )
    )
    with pytest.raises(ConflictError) as info:
        rig.run(rig.service.rewind("s1", checkpoint_id=first, mode="both"))
    assert info.value.code == "session_busy"
    assert (rig.root / "a.txt").read_text() == "by-dexa\n"


def test_bad_arguments_get_clear_errors(rig: Rig) -> None:
    _session_with_bash_change(rig)
    with pytest.raises(CheckpointNotFoundError, match="ckpt_0099 not found in session s1"):
        rig.run(rig.service.rewind("s1", checkpoint_id="ckpt_0099", mode="code"))
    with pytest.raises(CheckpointNotFoundError, match="not a checkpoint id"):
        rig.run(rig.service.rewind("s1", checkpoint_id="latest", mode="code"))
    with pytest.raises(DexaError, match="mode must be one of"):
        rig.run(rig.service.rewind("s1", checkpoint_id="1", mode="files"))
    with pytest.raises(DexaError, match="on_conflict must be one of"):
        rig.run(rig.service.rewind("s1", checkpoint_id="1", mode="code", on_conflict="merge"))
