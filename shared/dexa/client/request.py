"""What every DexaClient operation shares: the `@operation` tag the OpenAPI drift test reads, and the one request
path. DexaClient and each of its operation mixins (config_api, session_commands, transfer_api, workspace_api)
derive from `Operations`, so a refused connection or a problem+json answer becomes the same core error whichever
operation met it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from dexa.core.errors import ConfigError

from .errors import error_from

F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M", bound=BaseModel)


def operation(method: str, path: str) -> Callable[[F], F]:
    def tag(fn: F) -> F:
        fn.__dexa_operation__ = (method, path)  # type: ignore[attr-defined]
        return fn

    return tag


def no_server(base_url: str, exc: Exception) -> ConfigError:
    return ConfigError(f"no Dexa server at {base_url} ({exc}); start one with `dexa serve`")


class Operations:
    base_url: str
    _http: httpx.AsyncClient

    async def _send(
        self, method: str, path: str, *, json_body: Any = None, params: Mapping[str, Any] | None = None
    ) -> httpx.Response:
        """The response to a request that succeeded; `params` left None are not sent.

        Raises:
            ConfigError: no server answers at base_url (or a 400/422 answer).
            DexaError: the problem+json answer's error (dexa.client.errors).
        """
        try:
            response = await self._http.request(
                method, path, json=json_body, params={k: v for k, v in (params or {}).items() if v is not None}
            )
        except httpx.ConnectError as exc:
            raise no_server(self.base_url, exc) from exc
        if response.status_code >= 400:
            raise error_from(response)
        return response

    async def _call(
        self,
        method: str,
        path: str,
        model: type[M] | None,
        *,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        """The answer as `model` (None: the body is not read)."""
        response = await self._send(method, path, json_body=json_body, params=params)
        if model is None:
            return None
        return model.model_validate(response.json())
