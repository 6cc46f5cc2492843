"""WebFetch (control-plane HTTP GET with SSRF guards, HTML -> markdown) and WebSearch (provider-side search)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from dexa.core.errors import EgressDeniedError, ToolError
from dexa.core.ports import ToolSpec
from dexa.core.tools import ToolContext, ToolOutput
from dexa.egress.addresses import DEFAULT_BLOCKED_NETWORKS, IPNetwork, Resolver, system_resolver
from dexa.egress.policy import NetworkPolicy, normalize_host
from dexa.egress.resolve import check_and_resolve

from .validate import BaseTool, RerunOnRecover

if TYPE_CHECKING:  # httpx (with click, rich and pygments) is imported by the first fetch, not by every session
    import httpx

MAX_BYTES = 10 << 20
MAX_MARKDOWN_CHARS = 100_000
MAX_REDIRECTS = 5
CACHE_TTL_S = 15 * 60
USER_AGENT = "Dexa-User/0.1 (WebFetch; +https://github.com/)"
__all__ = ["WebFetch", "WebSearch", "html_to_markdown", "system_resolver"]
# The session's NetworkPolicy, when the runtime provides one (ctx.services); without it `ctx.network` means full.
POLICY_SERVICE = "network_policy"


def html_to_markdown(html: str) -> str:
    # Imported on first use: bs4 and its CSS engine cost ~0.1-0.3 s at start-up, and most runs never fetch a page.
    from bs4 import BeautifulSoup
    from markdownify import MarkdownConverter

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "svg", "iframe"]):
        tag.decompose()
    markdown = MarkdownConverter(heading_style="ATX", bullets="-").convert_soup(soup)
    return re.sub(r"\n{3,}", "\n\n", markdown).strip()


def _same_site(a: httpx.URL, b: httpx.URL) -> bool:
    return a.host.removeprefix("www.") == b.host.removeprefix("www.")


class WebFetch(RerunOnRecover, BaseTool):
    read_only = True
    spec = ToolSpec(
        name="WebFetch",
        description=(
            "Fetches a URL (http is upgraded to https), converts HTML to markdown, and answers `prompt` about the "
            "page. Private, loopback and link-local addresses are refused. A redirect to a different host is "
            "reported, not followed: call WebFetch again with the new URL. Results are cached for 15 minutes. "
            "Read-only; needs the session's network permission."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "url": {"type": "string", "format": "uri", "description": "The URL to fetch content from"},
                "prompt": {"type": "string", "description": "What to extract from or ask about the page"},
            },
            "required": ["url", "prompt"],
        },
    )

    def __init__(
        self,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: Resolver | None = None,
        max_bytes: int = MAX_BYTES,
        timeout_s: float = 30.0,
        blocked_networks: Iterable[IPNetwork] = DEFAULT_BLOCKED_NETWORKS,
    ) -> None:
        # An injected transport (tests) replaces the pinned egress transport; the checks still run first.
        self._transport = transport
        self._resolve = resolver or system_resolver
        self._blocked = tuple(blocked_networks)
        self._max_bytes = max_bytes
        self._timeout_s = timeout_s
        self._cache: dict[str, tuple[float, str, dict[str, Any]]] = {}

    async def _check_host(self, url: httpx.URL, ctx: ToolContext, pins: dict[tuple[str, int], list[str]]) -> None:
        """Resolve once, check, and pin: the egress transport then connects only to these addresses."""
        port = url.port or (443 if url.scheme == "https" else 80)
        host = normalize_host(url.raw_host.decode("ascii"))  # the IDNA form httpcore will connect with
        try:
            pins[(host, port)] = await check_and_resolve(
                host, port, policy=_policy(ctx), resolver=self._resolve, blocked_networks=self._blocked_for(ctx)
            )
        except EgressDeniedError as exc:
            if exc.code == "egress_unresolved":
                raise ToolError(f"Could not resolve host {url.host}: {exc.message}") from exc
            if exc.address:
                raise ToolError(
                    f"Refusing to fetch {url}: {exc.message}. "
                    "Fetching internal addresses is not allowed by this session's policy."
                ) from exc
            raise ToolError(f"Refusing to fetch {url}: {exc.message}.") from exc

    def _blocked_for(self, ctx: ToolContext) -> tuple[IPNetwork, ...]:
        return () if ctx.allow_private_network else self._blocked

    def _client_transport(self, ctx: ToolContext, pins: dict[tuple[str, int], list[str]]) -> httpx.AsyncBaseTransport:
        if self._transport is not None:
            return self._transport

        async def pinned(host: str, port: int) -> list[str]:
            key = (normalize_host(host), port)
            if key not in pins:
                raise OSError(f"{host}:{port} was not checked before connecting")
            return pins[key]

        from dexa.egress.transport import egress_transport

        return egress_transport(_policy(ctx), resolver=pinned, blocked_networks=self._blocked_for(ctx))

    def _parse(self, raw: str, ctx: ToolContext) -> httpx.URL:
        import httpx

        try:
            url = httpx.URL(raw.strip())
        except (httpx.InvalidURL, TypeError) as exc:
            raise ToolError(f"Invalid URL {raw!r}: {exc}") from exc
        if url.scheme not in ("http", "https") or not url.host:
            raise ToolError(f"Invalid URL {raw!r}: use an absolute http(s) URL such as https://example.com/page")
        if url.scheme == "http" and not ctx.allow_private_network:
            url = url.copy_with(scheme="https")
        return url

    async def _get(self, client: httpx.AsyncClient, url: httpx.URL) -> tuple[httpx.Response, bytes, bool]:
        async with client.stream("GET", url) as response:
            chunks: list[bytes] = []
            size = 0
            truncated = False
            if not response.is_redirect:
                async for chunk in response.aiter_bytes():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size >= self._max_bytes:
                        truncated = True
                        break
        return response, b"".join(chunks)[: self._max_bytes], truncated

    async def _fetch(self, url: httpx.URL, ctx: ToolContext) -> ToolOutput | tuple[str, dict[str, Any]]:
        started = time.monotonic()
        headers = {"User-Agent": USER_AGENT, "Accept": "text/html,text/markdown,text/plain,application/json;q=0.9"}
        pins: dict[tuple[str, int], list[str]] = {}
        import httpx

        async with httpx.AsyncClient(
            transport=self._client_transport(ctx, pins),
            timeout=httpx.Timeout(self._timeout_s, connect=min(10.0, self._timeout_s)),
            follow_redirects=False,
            headers=headers,
            trust_env=False,  # an environment proxy would resolve the name again
        ) as client:
            current = url
            for _ in range(MAX_REDIRECTS + 1):
                await self._check_host(current, ctx, pins)
                response, body, truncated = await self._get(client, current)
                if not response.is_redirect:
                    break
                target = current.join(response.headers.get("location", ""))
                if not _same_site(current, target):
                    return ToolOutput(
                        content=(
                            f"REDIRECT DETECTED: The URL redirects to a different host.\nOriginal URL: {url}\n"
                            f"Redirect URL: {target}\nStatus: {response.status_code}\n"
                            "To fetch the redirected page, call WebFetch again with the redirect URL."
                        ),
                        data={"url": str(url), "redirect_url": str(target), "code": response.status_code},
                    )
                current = target
            else:
                raise ToolError(f"Too many redirects fetching {url}")
        if response.status_code >= 400:
            raise ToolError(f"HTTP {response.status_code} {response.reason_phrase} fetching {current}")
        kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
        text = body.decode(response.encoding or "utf-8", errors="replace")
        if kind in ("text/html", "application/xhtml+xml") or (not kind and "<html" in text[:1000].lower()):
            text = html_to_markdown(text)
        elif kind and not (kind.startswith("text/") or kind.endswith(("json", "xml", "javascript"))):
            raise ToolError(f"Unsupported content type {kind!r} at {current}; WebFetch reads text and HTML pages.")
        meta = {
            "url": str(url),
            "final_url": str(current),
            "code": response.status_code,
            "codeText": response.reason_phrase,
            "bytes": len(body),
            "truncated": truncated,
            "durationMs": int((time.monotonic() - started) * 1000),
        }
        return text, meta

    async def call(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        if not ctx.network:
            raise ToolError(
                "WebFetch is disabled: this session has no network access. Ask the user to enable network access "
                "for the session if the page is needed."
            )
        url = self._parse(tool_input["url"], ctx)
        # Checked before the cache too: a page another session could fetch is not this session's to read.
        refused = _policy(ctx).denial_reason(url.raw_host.decode("ascii"))
        if refused:
            raise ToolError(f"Refusing to fetch {url}: {refused}.")
        cached = self._cache.get(str(url))
        if cached and time.monotonic() - cached[0] < CACHE_TTL_S:
            markdown, meta = cached[1], {**cached[2], "cached": True}
        else:
            fetched = await self._fetch(url, ctx)
            if isinstance(fetched, ToolOutput):
                return fetched
            markdown, meta = fetched
            self._cache[str(url)] = (time.monotonic(), markdown, meta)
        summarize = ctx.services.get("summarize")
        if summarize is not None:
            result = str(await summarize(prompt=tool_input["prompt"], content=markdown, url=str(url)))
        else:
            result = markdown[:MAX_MARKDOWN_CHARS]
            if len(markdown) > MAX_MARKDOWN_CHARS:
                result += f"\n\n[content truncated: {len(markdown) - MAX_MARKDOWN_CHARS} more characters]"
        return ToolOutput(content=result or "(the page has no text content)", data={**meta, "result": result})


def _policy(ctx: ToolContext) -> NetworkPolicy:
    policy = ctx.services.get(POLICY_SERVICE)
    return policy if isinstance(policy, NetworkPolicy) else NetworkPolicy(level="full")


def _format_results(result: Any) -> str:
    if isinstance(result, str):
        return result
    items = result.get("results", result) if isinstance(result, dict) else result
    if isinstance(items, list):
        lines = []
        for item in items:
            if isinstance(item, dict):
                title = item.get("title") or item.get("url", "")
                lines.append(
                    f"- [{title}]({item.get('url', '')})" + (f": {item['snippet']}" if "snippet" in item else "")
                )
            else:
                lines.append(f"- {item}")
        return "\n".join(lines) or "No results found."
    return str(result)


class WebSearch(RerunOnRecover, BaseTool):
    read_only = True
    spec = ToolSpec(
        name="WebSearch",
        description=(
            "Searches the web and returns result titles, links and excerpts for current information. Optionally "
            "restrict results to allowed_domains or exclude blocked_domains (not both). Cite the links you use."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "query": {"type": "string", "minLength": 2, "description": "The search query to use"},
                "allowed_domains": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Only include results from these domains",
                },
                "blocked_domains": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Never include results from these domains",
                },
            },
            "required": ["query"],
        },
    )

    async def call(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        allowed = list(tool_input.get("allowed_domains") or [])
        blocked = list(tool_input.get("blocked_domains") or [])
        if allowed and blocked:
            raise ToolError("Cannot specify both allowed_domains and blocked_domains in the same request.")
        search = ctx.services.get("web_search")
        if search is None:
            raise ToolError(
                "WebSearch is not available in this session: the model provider offers no server-side web search "
                "(for example on Bedrock or with a scripted model). Use WebFetch on a known URL instead."
            )
        started = time.monotonic()
        result = await search(
            query=tool_input["query"], allowed_domains=allowed or None, blocked_domains=blocked or None
        )
        content = _format_results(result)
        return ToolOutput(
            content=content,
            data={"query": tool_input["query"], "results": result, "durationSeconds": time.monotonic() - started},
        )
