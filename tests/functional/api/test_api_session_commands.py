"""The interactive clients' session commands over HTTP: custom slash commands, /compact, /model, /mcp."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from api_harness import make_api, wait_for
from fastapi.testclient import TestClient

from dexa.testing.scripted import FunctionModel, reply, text


def _idle(client: TestClient, h: dict[str, str], sid: str) -> dict[str, Any]:
    return wait_for(
        lambda: (s := client.get(f"/sessions/{sid}", headers=h).json())["status"] == "idle" and not s["running"] and s
    )


def _answers(req: Any) -> Any:
    return text(f"answer {sum(1 for m in req.messages if m.role == 'assistant')}")


def test_unknown_builtin_and_plain_commands_are_refused_and_nothing_runs(tmp_path: Path) -> None:
    calls: list[Any] = []

    def model(req: Any) -> Any:
        calls.append(req)
        return text("never")

    api = make_api(tmp_path, model=FunctionModel(model))
    with TestClient(api.app) as client:
        sid = client.post("/sessions", json={}, headers=api.h()).json()["id"]
        for command, code, words in (
            ("/xyz now", "unknown_command", "Unknown slash command: /xyz"),
            ("/cost", "builtin_command", "/cost is a built-in command"),
            ("hello there", "not_a_command", "must be `/name args`"),
        ):
            r = client.post(f"/sessions/{sid}/commands", json={"command": command}, headers=api.h())
            assert r.status_code == 400 and r.json()["code"] == code and words in r.json()["detail"], r.text
        s = client.get(f"/sessions/{sid}", headers=api.h()).json()
        assert s["turn"] is None and s["turns_completed"] == 0 and calls == []


def test_compact_summarises_older_turns_and_refuses_while_a_turn_runs(tmp_path: Path) -> None:
    release = threading.Event()

    async def model(req: Any) -> Any:
        last = req.messages[-1]
        if "gate" in str(last.content):
            await asyncio.to_thread(release.wait, 10)
            return reply("waited")
        return _answers(req)

    api = make_api(tmp_path, model=FunctionModel(model))
    with TestClient(api.app) as client:
        sid = client.post("/sessions", json={"prompt": "one"}, headers=api.h()).json()["id"]
        _idle(client, api.h(), sid)
        short = client.post(f"/sessions/{sid}/compact", headers=api.h()).json()
        assert short["compacted"] is False
        for prompt in ("two", "three"):
            client.post(f"/sessions/{sid}/messages", json={"prompt": prompt}, headers=api.h())
            _idle(client, api.h(), sid)
        done = client.post(f"/sessions/{sid}/compact", headers=api.h()).json()
        assert done["compacted"] is True and done["summarized_messages"] == 2 and done["kept_messages"] == 4
        assert done["messages"] == 6  # summary, acknowledgement, and the last two exchanges

        client.post(f"/sessions/{sid}/messages", json={"prompt": "gate"}, headers=api.h())
        busy = client.post(f"/sessions/{sid}/compact", headers=api.h())
        release.set()
        assert busy.status_code == 409 and busy.json()["code"] == "session_busy"
        _idle(client, api.h(), sid)


def test_model_switches_for_the_next_call_and_scripted_models_need_test_mode(tmp_path: Path) -> None:
    api = make_api(tmp_path / "a", model=FunctionModel(_answers))
    with TestClient(api.app) as client:
        sid = client.post("/sessions", json={}, headers=api.h()).json()["id"]
        r = client.post(f"/sessions/{sid}/model", json={"model": "haiku"}, headers=api.h())
        assert r.status_code == 200 and r.json()["model"] == "haiku"
        assert client.get(f"/sessions/{sid}", headers=api.h()).json()["model"] == "haiku"
        assert client.get(f"/sessions/{sid}/mcp", headers=api.h()).json() == {"data": [], "count": 0}
        reader = client.post(f"/sessions/{sid}/model", json={"model": "opus"}, headers=api.h("a_reviewer"))
        assert reader.status_code == 403

    strict = make_api(tmp_path / "b", model=FunctionModel(_answers), test_mode=False)
    with TestClient(strict.app) as client:
        sid = client.post("/sessions", json={}, headers=strict.h()).json()["id"]
        r = client.post(f"/sessions/{sid}/model", json={"model": "scripted:/etc/passwd"}, headers=strict.h())
        assert r.status_code == 403 and "test mode" in r.json()["detail"]
        assert client.get(f"/sessions/{sid}", headers=strict.h()).json()["model"] != "scripted:/etc/passwd"
