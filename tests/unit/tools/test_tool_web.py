"""WebFetch (SSRF guards, redirects, HTML -> markdown) and WebSearch (provider service)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from dexa.core.tools import ToolContext
from dexa.tools.web import WebFetch, WebSearch, system_resolver

pytestmark = pytest.mark.anyio

PUBLIC = {"example.com": ["93.184.216.34"], "www.example.com": ["93.184.216.34"], "other.org": ["198.51.100.7"]}


async def fake_resolver(host: str, port: int) -> list[str]:
    table = {**PUBLIC, "internal.example": ["10.0.0.5"], "rebind.example": ["93.184.216.34", "127.0.0.1"]}
    if host in table:
        return table[host]
    if host == "localhost" or host.replace(".", "").isdigit() or ":" in host:
        return await system_resolver(host, port)  # resolves offline (/etc/hosts, literals)
    raise OSError(f"unknown host {host}")


PAGE = (
    b"<html><head><style>p{}</style><script>alert(1)</script></head>"
    b"<body><h1>Title</h1><p>Hello <b>web</b></p></body></html>"
)


def _handler(seen: list[httpx.Request]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        path = request.url.path
        if path == "/page":
            return httpx.Response(200, content=PAGE, headers={"content-type": "text/html; charset=utf-8"})
        if path == "/moved-away":
            return httpx.Response(301, headers={"location": "https://other.org/landing"})
        if path == "/moved-here":
            return httpx.Response(302, headers={"location": "https://www.example.com/page"})
        if path == "/big":
            return httpx.Response(200, content=b"a" * 5000, headers={"content-type": "text/plain"})
        if path == "/image":
            return httpx.Response(200, content=b"\x89PNG", headers={"content-type": "image/png"})
        return httpx.Response(404)

    return httpx.MockTransport(handle)


@pytest.fixture
def net_ctx(ctx: ToolContext) -> ToolContext:
    return dataclasses.replace(ctx, network=True)


def _tool(seen: list[httpx.Request], **kw: Any) -> WebFetch:
    return WebFetch(transport=_handler(seen), resolver=fake_resolver, **kw)


async def test_webfetch_converts_html_to_markdown_without_scripts(net_ctx: ToolContext) -> None:
    seen: list[httpx.Request] = []
    out = await _tool(seen).run({"url": "https://example.com/page", "prompt": "summarize"}, net_ctx)
    assert not out.is_error, out.content
    assert "# Title" in out.content and "Hello **web**" in out.content
    assert "alert" not in out.content and "p{}" not in out.content


async def test_webfetch_upgrades_http_to_https(net_ctx: ToolContext) -> None:
    seen: list[httpx.Request] = []
    await _tool(seen).run({"url": "http://example.com/page", "prompt": "x"}, net_ctx)
    assert seen[0].url.scheme == "https"


async def test_webfetch_reports_cross_host_redirects_and_follows_same_host_ones(net_ctx: ToolContext) -> None:
    seen: list[httpx.Request] = []
    tool = _tool(seen)
    away = await tool.run({"url": "https://example.com/moved-away", "prompt": "x"}, net_ctx)
    assert not away.is_error and "REDIRECT DETECTED" in away.content and "https://other.org/landing" in away.content
    assert [r.url.host for r in seen] == ["example.com"]
    here = await tool.run({"url": "https://example.com/moved-here", "prompt": "x"}, net_ctx)
    assert "# Title" in here.content and here.data["final_url"] == "https://www.example.com/page"


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/",
        "https://localhost/",
        "https://10.1.2.3/",
        "https://192.168.0.1/",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/",
        "https://internal.example/",
        "https://rebind.example/",
    ],
)
async def test_webfetch_refuses_internal_addresses(net_ctx: ToolContext, url: str) -> None:
    seen: list[httpx.Request] = []
    out = await _tool(seen).run({"url": url, "prompt": "x"}, net_ctx)
    assert out.is_error and "Refusing to fetch" in out.content
    assert seen == []


async def test_webfetch_metadata_address_is_refused_even_when_private_is_allowed(net_ctx: ToolContext) -> None:
    ctx = dataclasses.replace(net_ctx, allow_private_network=True)
    out = await _tool([]).run({"url": "http://169.254.169.254/", "prompt": "x"}, ctx)
    assert out.is_error and "metadata" in out.content


async def test_webfetch_refuses_without_session_network(ctx: ToolContext) -> None:
    seen: list[httpx.Request] = []
    out = await _tool(seen).run({"url": "https://example.com/page", "prompt": "x"}, ctx)
    assert out.is_error and "no network access" in out.content and seen == []


async def test_webfetch_http_errors_bad_urls_and_binary_types_are_errors(net_ctx: ToolContext) -> None:
    tool = _tool([])
    missing = await tool.run({"url": "https://example.com/missing", "prompt": "x"}, net_ctx)
    assert missing.is_error and "HTTP 404" in missing.content
    bad = await tool.run({"url": "ftp://example.com/x", "prompt": "x"}, net_ctx)
    assert bad.is_error and "http(s) URL" in bad.content
    image = await tool.run({"url": "https://example.com/image", "prompt": "x"}, net_ctx)
    assert image.is_error and "Unsupported content type 'image/png'" in image.content
    unknown = await tool.run({"url": "https://nowhere.invalid/", "prompt": "x"}, net_ctx)
    assert unknown.is_error and "Could not resolve host" in unknown.content


async def test_webfetch_caps_the_body_size(net_ctx: ToolContext) -> None:
    out = await _tool([], max_bytes=1000).run({"url": "https://example.com/big", "prompt": "x"}, net_ctx)
    assert out.data["truncated"] and len(out.content) == 1000


async def test_webfetch_applies_the_prompt_with_the_summarize_service_and_caches(net_ctx: ToolContext) -> None:
    calls: list[dict[str, Any]] = []

    async def summarize(**kw: Any) -> str:
        calls.append(kw)
        return "It says hello."

    ctx = dataclasses.replace(net_ctx, services={"summarize": summarize})
    seen: list[httpx.Request] = []
    tool = _tool(seen)
    out = await tool.run({"url": "https://example.com/page", "prompt": "What does it say?"}, ctx)
    again = await tool.run({"url": "https://example.com/page", "prompt": "Title?"}, ctx)
    assert out.content == "It says hello." and again.data.get("cached") is True
    assert calls[0]["prompt"] == "What does it say?" and "# Title" in calls[0]["content"]
    assert len(seen) == 1


@pytest.fixture
def local_server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html><body><p>local dev server</p></body></html>"
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


async def test_webfetch_reaches_a_loopback_server_only_when_private_network_is_allowed(
    net_ctx: ToolContext, local_server: str
) -> None:
    refused = await WebFetch().run({"url": local_server, "prompt": "x"}, net_ctx)
    assert refused.is_error and "loopback" in refused.content
    allowed = await WebFetch().run(
        {"url": local_server, "prompt": "x"}, dataclasses.replace(net_ctx, allow_private_network=True)
    )
    assert not allowed.is_error and "local dev server" in allowed.content


async def test_websearch_calls_the_provider_service(ctx: ToolContext) -> None:
    calls: list[dict[str, Any]] = []

    async def web_search(**kw: Any) -> list[dict[str, str]]:
        calls.append(kw)
        return [{"title": "Dexa", "url": "https://dexa.example/"}]

    ctx = dataclasses.replace(ctx, services={"web_search": web_search})
    out = await WebSearch().run({"query": "dexa runtime", "allowed_domains": ["dexa.example"]}, ctx)
    assert out.content == "- [Dexa](https://dexa.example/)"
    assert calls == [{"query": "dexa runtime", "allowed_domains": ["dexa.example"], "blocked_domains": None}]


async def test_websearch_errors_are_actionable(ctx: ToolContext) -> None:
    absent = await WebSearch().run({"query": "dexa"}, ctx)
    assert absent.is_error and "not available" in absent.content
    both = await WebSearch().run({"query": "dexa", "allowed_domains": ["a.com"], "blocked_domains": ["b.com"]}, ctx)
    assert both.is_error and "both allowed_domains and blocked_domains" in both.content
    short = await WebSearch().run({"query": "d"}, ctx)
    assert short.is_error and "`query`" in short.content
