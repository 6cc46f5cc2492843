"""Forwarding to the real git host with the real credential, streaming the answer back."""

from __future__ import annotations

import base64
from collections.abc import Mapping

import httpx
from starlette.background import BackgroundTask
from starlette.responses import Response, StreamingResponse

from dexa.core.errors import ToolError

# Request headers git needs end to end; everything else (cookies, the sandbox's Authorization) stays behind.
REQUEST_HEADERS = ("content-type", "accept", "git-protocol", "content-encoding", "accept-encoding", "user-agent")
RESPONSE_HEADERS = ("content-type", "cache-control", "expires", "pragma", "content-encoding")


def basic_auth_header(token: str) -> str:
    """GitHub's git-over-HTTPS form for App installation tokens."""
    return "Basic " + base64.b64encode(f"x-access-token:{token}".encode()).decode("ascii")


class Upstream:
    """The git host behind the proxy: `https://github.com` in production, a local git host in tests."""

    def __init__(self, http: httpx.AsyncClient, base_url: str = "https://github.com") -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")

    def repo_url(self, repo: str) -> str:
        return f"{self.base_url}/{repo}.git"

    async def forward(
        self,
        *,
        method: str,
        repo: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        auth_header: str,
    ) -> Response:
        """Send one smart-HTTP request upstream and stream the response back unchanged.

        Raises:
            ToolError: the upstream could not be reached.
        """
        out_headers = {k: v for k, v in headers.items() if k.lower() in REQUEST_HEADERS}
        out_headers["Authorization"] = auth_header
        url = f"{self.repo_url(repo)}/{path}" + (f"?{query}" if query else "")
        request = self.http.build_request(method, url, headers=out_headers, content=body if method == "POST" else None)
        try:
            upstream = await self.http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise ToolError(f"git host unreachable: {type(exc).__name__}", code="upstream_unavailable") from exc
        response_headers = {k: v for k, v in upstream.headers.items() if k.lower() in RESPONSE_HEADERS}
        if upstream.status_code in (401, 403):
            # The installation token was refused: never let git fall back to asking the sandbox for credentials.
            await upstream.aclose()
            return Response(
                f"the git host refused Dexa's credential for {repo} (HTTP {upstream.status_code})\n",
                status_code=502,
                media_type="text/plain",
            )
        return StreamingResponse(
            upstream.aiter_raw(),
            status_code=upstream.status_code,
            headers=response_headers,
            background=BackgroundTask(upstream.aclose),
        )
