"""The Python client is checked against /openapi.json both ways, and works against the real app."""

from __future__ import annotations

import asyncio
import typing
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_harness import Api, make_api

from dexa.api.fake_runtime import tool_loop_model
from dexa.client import DexaClient, operations
from dexa.core.errors import ConflictError, NotFoundError, PermissionDeniedError


@pytest.fixture
def doc(api: Api) -> dict[str, Any]:
    return api.app.openapi()


def _ops(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(m.upper(), p): op for p, item in doc["paths"].items() for m, op in item.items()}


def test_every_client_method_is_an_operation_and_every_operation_has_a_method(doc: dict[str, Any]) -> None:
    client_ops = operations()
    assert set(client_ops.values()) == set(_ops(doc)), (
        f"client-only: {set(client_ops.values()) - set(_ops(doc))}; "
        f"server-only: {set(_ops(doc)) - set(client_ops.values())}"
    )
    for name, key in client_ops.items():
        assert _ops(doc)[key]["operationId"] == name, f"{name} calls {key}, whose operationId differs"


def test_client_return_types_are_the_documented_response_schemas(doc: dict[str, Any]) -> None:
    ops = _ops(doc)
    for name, key in operations().items():
        hints = typing.get_type_hints(getattr(DexaClient, name))
        returned = hints["return"]
        ok = next((r for s, r in ops[key]["responses"].items() if s.startswith("2")), None)
        assert ok is not None, key
        content = ok.get("content") or {}
        if "application/json" not in content:
            continue  # 204, or the SSE stream (an async iterator of EventPublic)
        ref = content["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
        assert getattr(returned, "__name__", str(returned)) == ref, f"{name}: returns {returned}, documented {ref}"


def test_the_document_is_typed_and_errors_are_problem_json(doc: dict[str, Any]) -> None:
    assert doc["openapi"].startswith("3.1")
    assert {"HTTPBearer", "APIKeyCookie"} <= set(doc["components"]["securitySchemes"])
    for (method, path), op in _ops(doc).items():
        assert op.get("operationId"), (method, path)
        for status, response in op["responses"].items():
            content = response.get("content", {})
            if status.startswith("2") and status != "204":
                assert content and all("schema" in v for v in content.values()), (method, path, status)
            if int(status) >= 400:
                assert list(content) == ["application/problem+json"], (method, path, status)
                assert content["application/problem+json"]["schema"]["$ref"].endswith("/Problem")


def test_client_drives_a_session_end_to_end_and_maps_problems_to_errors(tmp_path: Path) -> None:
    api = make_api(tmp_path, model=tool_loop_model(tool_calls=1, delay_s=0.1))

    async def main() -> None:
        transport = httpx.ASGITransport(app=api.app)
        async with DexaClient("http://dexa", api.tokens["a_member"], transport=transport) as client:
            assert (await client.me()).role == "member"
            session = await client.create_session(prompt="hello", title="via client")
            events = []
            async for ev in client.events(session.id):
                events.append(ev)
                if ev.type == "session.idle":
                    break
            assert [e.seq for e in events] == list(range(1, len(events) + 1))
            assert events[-2].type == "turn.completed"
            replay = [e.seq async for e in client.events(session.id, after=3, follow=False)]
            assert replay == list(range(4, events[-1].seq + 1))
            accepted = await client.send_message(session.id, "again")
            assert accepted.turn == 2
            with pytest.raises(ConflictError) as busy:
                await client.send_message(session.id, "and again")
            assert busy.value.code == "session_busy"
            with pytest.raises(NotFoundError):
                await client.get_session("ses_missing")
            with pytest.raises(PermissionDeniedError) as denied:
                await client.audit()
            assert denied.value.code == "forbidden"
            assert (await client.list_sessions()).count == 1

    asyncio.run(main())
