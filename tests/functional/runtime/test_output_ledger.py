"""An executed business output is in its session's side-effect ledger (what a rewind lists as not undone); a
rejected one is not. Real runtime (dexa.wiring), the demo company's calendar, a scripted session staging two invites."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from dexa.checkpoints.ledger import SideEffectLedger
from dexa.core.session import SessionConfig
from dexa.settings import get_settings
from dexa.wiring import LOCAL_ORG, build_runtime

STAGE = "mcp__calendar__create_event"


def _invite(who: str) -> dict[str, object]:
    return {"summary": f"Call with {who}", "start": "2020-01-07T15:00:00Z", "end": "2020-01-07T15:30:00Z",
            "attendees": [who]}  # fmt: skip


def test_an_executed_output_is_in_the_sessions_ledger_and_a_rejected_one_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEXA_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    ws = tmp_path / "ws"
    ws.mkdir()
    script = tmp_path / "script.json"
    invites = [{"name": STAGE, "input": _invite(w)} for w in ("a@x.example", "b@x.example")]
    turns = [
        {"text": "Loading.", "tool_uses": [{"name": "LoadSourceTools", "input": {"sources": ["calendar"]}}]},
        {"text": "Two invites.", "tool_uses": invites},
        {"text": "Both wait for review."},
    ]
    script.write_text(json.dumps({"turns": turns}))

    async def main() -> None:
        rt = build_runtime(get_settings())
        try:
            await rt.integrations.registry.add(LOCAL_ORG, {"provider": "demo"})
            config = SessionConfig(allowed_tools=(STAGE,), headless=True)
            session = await rt.create_session(cwd=str(ws), model=f"scripted:{script}", config=config)
            await rt.engine.submit(session.id, "Invite both.")
            await rt.driver.run(session.id, wait_for_approvals=False)
            queue = rt.integrations.queue
            first, second = await queue.list(LOCAL_ORG, session_id=session.id, status="pending")
            done = await queue.approve(LOCAL_ORG, first["id"], by="maya")
            assert done["status"] == "executed", done
            await queue.reject(LOCAL_ORG, second["id"], by="maya", reason="not now")
            effects = await SideEffectLedger(rt.store).list(session.id)
            assert [(e.kind, e.data["output_id"]) for e in effects] == [("output_executed", first["id"])]
            assert "a@x.example was executed" in effects[0].summary
        finally:
            await rt.aclose()

    try:
        asyncio.run(main())
    finally:
        get_settings.cache_clear()
