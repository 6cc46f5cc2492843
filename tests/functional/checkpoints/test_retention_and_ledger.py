"""TTL cleanup never deletes a referenced blob; irreversible actions are reported on rewind, never pretended away."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ckpt_rig import Rig, make_rig

from dexa.checkpoints import CheckpointService, record_side_effect
from dexa.core.errors import ConflictError, NotFoundError, ToolError
from dexa.core.ports import ToolSpec
from dexa.core.tools import ToolContext, ToolOutput
from dexa.testing.fakes import DirWorkspace
from dexa.testing.scripted import text, tool_use

DAY = 86400.0


def _blob(rig: Rig, digest: str) -> Path:
    return rig.tmp / "blobs" / digest[:2] / digest[2:]


def test_expiry_deletes_old_chains_and_only_blobs_nothing_else_references(tmp_path: Path) -> None:
    now = [1_000_000.0]
    rig = make_rig(tmp_path, sandbox=False, clock=lambda: now[0], full_every=2)
    (rig.root / "shared.txt").write_text("in both sessions\n")
    (rig.root / "unique.txt").write_text("only in the old session\n")
    old = [rig.run(rig.service.checkpoint("s1", reason="prompt", message_id=None)) for _ in range(3)]
    state = rig.run(rig.service.repo.state(rig.run(rig.service.repo.get("s1", old[0]))))
    shared, unique = state.files["shared.txt"], state.files["unique.txt"]

    ws2 = tmp_path / "ws2"
    ws2.mkdir()
    (ws2 / "shared.txt").write_text("in both sessions\n")
    workspace2 = DirWorkspace(ws2)

    async def ws_for(session_id: str) -> DirWorkspace:
        return workspace2

    recent = CheckpointService(rig.store, rig.blobs, ws_for, clock=lambda: now[0])
    now[0] += 20 * DAY
    rig.run(recent.checkpoint("s2", reason="prompt", message_id=None))
    # s1 has segments [1,2] and [3,4]; ckpt 4 is recent, so only the first segment expires.
    now[0] += 15 * DAY
    (rig.root / "unique.txt").write_text("newer content\n")
    latest = rig.run(rig.service.checkpoint("s1", reason="prompt", message_id=None))
    assert latest == "ckpt_0004"

    result = rig.run(rig.service.expire())  # default TTL: 30 days
    assert result["deleted"] == 2 and result["sessions"] == ["s1"]
    remaining = [c["id"] for c in rig.run(rig.service.list_checkpoints("s1"))]
    assert remaining == ["ckpt_0004", "ckpt_0003"]
    assert _blob(rig, shared).exists()  # still referenced (by s1's ckpt 3 and by s2)
    assert _blob(rig, unique).exists()  # ckpt_0003 (kept, its chain is recent) still references it
    assert result["gc"]["deleted_blobs"] >= 1  # the expired manifests

    now[0] += 40 * DAY
    again = rig.run(rig.service.expire(older_than_days=30))
    assert again["deleted"] == 3  # s1's last segment and s2's
    assert not _blob(rig, unique).exists() and not _blob(rig, shared).exists()
    # The counter stays monotonic after everything expired; the next checkpoint is a full one.
    nxt = rig.run(rig.service.repo.get("s1", rig.run(rig.service.checkpoint("s1", reason="prompt", message_id=None))))
    assert nxt.id == "ckpt_0005" and nxt.is_full


class OpenPR:
    """Stands in for the git integration: it records the PR it opened in the side-effect ledger."""

    read_only = False
    spec = ToolSpec(name="OpenPR", description="open a pull request", input_schema={"type": "object"})

    async def run(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        await record_side_effect(
            ctx.kv,
            ctx.session_id,
            kind="pr_created",
            summary="Opened PR #7 on acme/web",
            data={"number": 7},
            compensation={"action": "close_pr", "args": {"repo": "acme/web", "number": 7}},
        )
        await record_side_effect(ctx.kv, ctx.session_id, kind="email_sent", summary="Emailed the PR to bob")
        return ToolOutput(content="opened")


def test_rewind_reports_side_effects_after_the_checkpoint_and_offers_compensation(rig: Rig) -> None:
    assert rig.env is not None
    rig.env.tools.add(OpenPR())
    rig.script([tool_use("Bash", {"command": "echo 1 > f"}), tool_use("OpenPR", {}), text("done")])
    rig.turn()
    ckpts = list(reversed(rig.run(rig.service.list_checkpoints("s1"))))
    prompt, last = ckpts[0], ckpts[-1]

    report = rig.run(rig.service.rewind("s1", checkpoint_id=prompt["id"], mode="both"))
    kinds = {e["kind"]: e for e in report["side_effects"]}
    assert set(kinds) == {"pr_created", "email_sent"}
    assert kinds["pr_created"]["offer"] == {"action": "close_pr", "args": {"repo": "acme/web", "number": 7}}
    assert kinds["email_sent"]["offer"] is None and kinds["email_sent"]["reversible"] is False
    assert all(e["undone"] is False for e in report["side_effects"])
    assert rig.events("session.rewound")[-1]["side_effects_count"] == 2
    # Rewinding to a point after the actions reports nothing.
    later = rig.run(rig.service.rewind("s1", checkpoint_id=last["id"], mode="code", on_conflict="overwrite"))
    assert later["side_effects"] == []

    calls: list[tuple[str, dict[str, Any]]] = []

    async def executor(action: str, args: dict[str, Any]) -> dict[str, Any]:
        calls.append((action, args))
        return {"closed": True}

    effect_id = kinds["pr_created"]["id"]
    done = rig.run(rig.service.compensate("s1", effect_id, executor))
    assert calls == [("close_pr", {"repo": "acme/web", "number": 7})]
    assert done.compensated is not None and done.compensated["ok"] and done.compensated["result"] == {"closed": True}
    with pytest.raises(ConflictError):
        rig.run(rig.service.compensate("s1", effect_id, executor))
    with pytest.raises(NotFoundError, match="no compensating action"):
        rig.run(rig.service.compensate("s1", kinds["email_sent"]["id"], executor))
    again = rig.run(rig.service.rewind("s1", checkpoint_id=prompt["id"], mode="conversation"))
    assert {e["kind"]: e["offer"] for e in again["side_effects"]}["pr_created"] is None  # already compensated


def test_a_failed_compensation_is_recorded_and_can_be_retried(rig: Rig) -> None:
    effect = rig.run(
        rig.service.record_side_effect(
            "s1",
            kind="branch_pushed",
            summary="Pushed dexa/fix",
            compensation={"action": "delete_branch", "args": {"branch": "dexa/fix"}},
        )
    )

    async def failing(action: str, args: dict[str, Any]) -> None:
        raise ToolError("GitHub said 502")

    failed = rig.run(rig.service.compensate("s1", effect.id, failing))
    assert failed.compensated == {"ok": False, "at": failed.compensated["at"], "error": "GitHub said 502"}

    async def working(action: str, args: dict[str, Any]) -> None:
        return None

    assert rig.run(rig.service.compensate("s1", effect.id, working)).compensated["ok"] is True
