"""`dexa serve` start-up drives turns a previous server left unfinished."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from dexa.runtime.startup import resume_unfinished_turns
from dexa.settings import get_settings
from dexa.wiring import LOCAL_ORG, build_runtime


def test_unfinished_turn_is_resumed_at_start_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEXA_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    ws = tmp_path / "ws"
    ws.mkdir()
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"turns": [{"text": "finished after restart"}]}))

    async def main() -> str:
        first = build_runtime(get_settings())
        session = await first.create_session(cwd=str(ws), model=f"scripted:{script}")
        await first.engine.submit(session.id, "go")  # queued, never driven: the "server" dies here
        await first.aclose()
        second = build_runtime(get_settings())
        try:
            assert await resume_unfinished_turns(second, [LOCAL_ORG]) == 1
            for _ in range(200):
                fresh = await second.store.get_session(session.id)
                if fresh.turn_state is None:
                    return fresh.result
                await asyncio.sleep(0.02)
            raise AssertionError("turn was not resumed")
        finally:
            await second.aclose()

    try:
        assert asyncio.run(main()) == "finished after restart"
    finally:
        get_settings.cache_clear()
