from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anthropic
import pytest

from dexa.testing.messages_api import FakeMessagesServer, serve
from dexa.testing.script import Script


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def fake() -> Iterator[Callable[[dict[str, Any]], FakeMessagesServer]]:
    """Start a loopback Messages-API fake from a script dict; stopped at teardown."""
    servers: list[FakeMessagesServer] = []

    def start(script: dict[str, Any]) -> FakeMessagesServer:
        server = serve(Script.from_dict(script))
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
async def client_for() -> AsyncIterator[Callable[[str], anthropic.AsyncAnthropic]]:
    """SDK clients aimed at a URL (retries off, as AnthropicModel expects), closed while the loop still runs."""
    clients: list[anthropic.AsyncAnthropic] = []

    def make(url: str) -> anthropic.AsyncAnthropic:
        client = anthropic.AsyncAnthropic(base_url=url, api_key="test-key", max_retries=0)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()
