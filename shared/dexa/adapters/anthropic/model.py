"""`AnthropicModel`: the Model port over the Anthropic Messages API, streaming, with our own retries.

The client is built with no api_key or base_url so the SDK reads ANTHROPIC_API_KEY / ANTHROPIC_AUTH_TOKEN /
ANTHROPIC_BASE_URL exactly as it does elsewhere; its own retries are off because a retry must be reported to
clients (`StreamDelta(kind="retry")`, Claude Code's `system/api_retry`) before we wait.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import anyio

from dexa.core.messages import Message, user_text
from dexa.core.models import api_model_id, resolve_model, split_context_suffix
from dexa.core.ports import DeltaSink, ModelRequest, ModelResponse, StreamDelta, ToolSpec

from .convert import Json, answer_with_sources, blocks_from_api, build_params
from .stream import StreamAccumulator

if TYPE_CHECKING:
    from .retry import Failure

logger = logging.getLogger(__name__)

LONG_CONTEXT_BETA = "context-1m-2025-08-07"
WEB_SEARCH_TOOL = "web_search_20250305"
WEB_SEARCH_SYSTEM = (
    "You are a web search assistant. Search the web for the user's query and answer concisely with the facts "
    "found. Cite the pages you used."
)
# `pause_turn` means the server paused a long search; we resume it a bounded number of times.
_MAX_SEARCH_CONTINUATIONS = 3


class AnthropicModel:
    """A Claude model on the Anthropic API.

    Args:
        model: alias (`sonnet`, `opus[1m]`) or full id; aliases resolve against the process environment.
        client: an `anthropic.AsyncAnthropic` (tests pass one aimed at the loopback fake).
        max_retries: retries after the first attempt for retryable failures.
        base_delay: first backoff in seconds (doubles each attempt, capped at `max_delay`, plus jitter).
        max_tokens: overrides `ModelRequest.max_tokens` when set.
        thinking_budget: default extended-thinking budget when the request sets none.
    """

    endpoint = "Anthropic API"

    def __init__(
        self,
        model: str = "sonnet",
        *,
        client: Any = None,
        max_retries: int = 4,
        base_delay: float = 0.5,
        max_delay: float = 32.0,
        max_tokens: int | None = None,
        thinking_budget: int | None = None,
        prompt_caching: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._env: Mapping[str, str] = os.environ if env is None else env
        self.name = resolve_model(model, self._env)
        self.max_retries = max_retries
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_tokens = max_tokens
        self.thinking_budget = thinking_budget
        self.prompt_caching = prompt_caching
        self._rng = random.Random()
        # The SDK is imported with the first request, not here: importing it costs ~1-2 s (thousands of type
        # modules), and a Lambda step that only runs tools builds a session's model without ever calling it.
        self._client_obj: Any = client

    @property
    def _client(self) -> Any:
        if self._client_obj is None:
            self._client_obj = self._make_client()
        return self._client_obj

    def _make_client(self) -> Any:
        from .sdk import async_client, plain_http_client

        return async_client(max_retries=0, http_client=plain_http_client())

    def api_model(self, model: str) -> str:
        """The id sent on the wire for a resolved model name."""
        return api_model_id(model)

    async def aclose(self) -> None:
        if self._client_obj is not None:
            await self._client_obj.close()

    async def complete(self, request: ModelRequest, on_delta: DeltaSink | None = None) -> ModelResponse:
        """Stream one reply. Raises ModelRateLimitError, ModelUnavailableError or ModelRequestError."""
        model = resolve_model(request.model, self._env) if request.model else self.name
        budget = request.thinking_budget if request.thinking_budget is not None else self.thinking_budget
        params = build_params(
            request,
            model_id=self.api_model(model),
            max_tokens=self.max_tokens or request.max_tokens,
            thinking_budget=budget,
            prompt_caching=self.prompt_caching,
        )
        started = time.monotonic()
        acc = await self._stream_with_retries(params, self._headers(model), on_delta)
        usage = acc.usage
        message = Message(
            id=request.response_id or acc.message_id,
            role="assistant",
            content=blocks_from_api(acc.blocks),
            model=model,
            stop_reason=acc.stop_reason,
            usage=usage,
        )
        duration_ms = int((time.monotonic() - started) * 1000)
        return ModelResponse(message=message, usage=usage, model=model, duration_ms=duration_ms)

    async def web_search(
        self,
        query: str,
        *,
        allowed_domains: list[str] | None = None,
        blocked_domains: list[str] | None = None,
        max_uses: int = 5,
    ) -> str:
        """Answer `query` with the server-side web search tool; returns text plus a `Sources:` list of URLs."""
        options: Json = {"max_uses": max_uses}
        if allowed_domains:
            options["allowed_domains"] = list(allowed_domains)
        if blocked_domains:
            options["blocked_domains"] = list(blocked_domains)
        tool = ToolSpec(name="web_search", description="", input_schema=options, server_type=WEB_SEARCH_TOOL)
        request = ModelRequest(
            model=self.name,
            system=WEB_SEARCH_SYSTEM,
            messages=(user_text("", f"Perform a web search for the query: {query}"),),
            tools=(tool,),
            max_tokens=4096,
        )
        params = build_params(request, model_id=self.api_model(self.name), max_tokens=4096, prompt_caching=False)
        blocks: list[Json] = []
        for _ in range(_MAX_SEARCH_CONTINUATIONS + 1):
            acc = await self._stream_with_retries(params, self._headers(self.name), None)
            blocks.extend(acc.blocks)
            if acc.stop_reason != "pause_turn":
                break
            params["messages"] = [*params["messages"], {"role": "assistant", "content": acc.blocks}]
        return answer_with_sources(blocks)

    def _headers(self, model: str) -> dict[str, str]:
        if split_context_suffix(model)[1]:
            return {"anthropic-beta": LONG_CONTEXT_BETA}
        return {}

    async def _stream_with_retries(
        self, params: Json, headers: dict[str, str], on_delta: DeltaSink | None
    ) -> StreamAccumulator:
        from .retry import TransportError, classify, translate
        from .sdk import load

        anthropic = load()

        attempt = 0
        while True:
            acc = StreamAccumulator()
            try:
                await self._stream_once(acc, params, headers, on_delta)
                return acc
            except (anthropic.APIError, TransportError) as exc:
                failure = classify(exc)
                if failure is None:  # e.g. a response that failed validation: a bug, not weather
                    raise
                attempt += 1
                if not failure.retryable or attempt > self.max_retries:
                    logger.warning("model call failed for good after %s attempt(s): %s", attempt, failure.message)
                    raise translate(failure, endpoint=self.endpoint) from exc
                delay = self._delay(failure, attempt)
                logger.info(
                    "model call failed (%s %s); retry %s in %.2fs", failure.status, failure.error_type, attempt, delay
                )
                if on_delta is not None:
                    await on_delta(self._retry_delta(failure, attempt, delay, partial=acc.emitted))
                await anyio.sleep(delay)

    async def _stream_once(
        self, acc: StreamAccumulator, params: Json, headers: dict[str, str], on_delta: DeltaSink | None
    ) -> None:
        stream = await self._open_stream(params, headers)
        async with stream:
            async for event in stream:
                delta = acc.feed(event)
                if delta is not None and on_delta is not None:
                    await on_delta(delta)
        if not acc.stopped:
            from .sdk import load

            anthropic = load()

            # The connection closed before message_stop: a partial reply must not be persisted as complete.
            raise anthropic.APIConnectionError(
                message="stream ended before message_stop", request=stream.response.request
            )

    async def _open_stream(self, params: Json, headers: dict[str, str]) -> Any:
        """POST /v1/messages with `stream: true` through the client; the SDK's stream yields each event as a dict."""
        from .sdk import post_message_stream

        return await post_message_stream(self._client, params, headers)

    def _delay(self, failure: Failure, attempt: int) -> float:
        if failure.retry_after_s is not None:
            return failure.retry_after_s
        from .retry import backoff_s

        return backoff_s(attempt, base_delay=self.base_delay, max_delay=self.max_delay, rng=self._rng)

    def _retry_delta(self, failure: Failure, attempt: int, delay: float, *, partial: bool) -> StreamDelta:
        return StreamDelta(
            kind="retry",
            text=failure.message,
            data={
                "attempt": attempt,
                "max_retries": self.max_retries,
                "retry_delay_ms": int(delay * 1000),
                "error_status": failure.status,
                "error": failure.category,
                "error_type": failure.error_type,
                "message": failure.message,
                # Deltas already streamed for the failed attempt are void; the retry streams the reply anew.
                "discard_partial": partial,
            },
        )
