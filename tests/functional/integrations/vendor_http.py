"""Vendor HTTP for the provider tests: cassettes of documented responses, and every request checked against the
vendor's published OpenAPI description (tests/fixtures/vendor_specs, see SOURCES.md there).

A cassette (cassettes/*.json) is a list of interactions in the order a provider makes them, vcrpy-style:

    {"source": "where the response shapes come from", "interactions": [
        {"request": {"method": "GET", "uri": "https://..."}, "response": {"status": 200, "json": {...}}}]}

`replay(names)` serves them through respx. Each request must be the next unused interaction with its method and
path (an unrecorded request fails the test), and is validated against the vendor's description with
openapi-core: path, method, query and header parameters, and the JSON or form body. A response is checked too
where the description gives its schema, so the recorded shapes are the vendor's, not ours.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import respx
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

# openapi-core checks no oauth2 security scheme (it warns); the tests assert the Authorization header themselves.
warnings.filterwarnings("ignore", "Unsupported scheme type")

SPECS = Path(__file__).resolve().parents[2] / "fixtures" / "vendor_specs"
CASSETTES = Path(__file__).resolve().parent / "cassettes"

# Graph's description names bound actions by their qualified name; its docs (and Dexa) use the short one.
_GRAPH_ACTIONS = re.compile(r"/(accept|decline|tentativelyAccept|getSchedule|createReply|send)$")


def _spec_file(url: httpx.URL) -> str | None:
    """Which vendored description covers a URL (None: the vendor publishes none we can use, e.g. Zendesk)."""
    host, path = url.host, url.path
    if host == "www.googleapis.com" and path.startswith("/calendar/v3/"):
        return "google_calendar.json"
    if host == "gmail.googleapis.com":
        return "gmail.json"
    if host == "slack.com":
        return "slack.json"
    if host == "graph.microsoft.com":
        return "microsoft_graph.json"
    if host == "api.hubapi.com":
        kind = path.split("/")[4] if path.startswith("/crm/v3/objects/") else ""
        return f"hubspot_{kind}.json" if kind in ("contacts", "deals", "notes", "tasks") else None
    return None


def _base64(value: object) -> bool:
    # Google's discovery `format: byte` fields (Gmail's raw and body.data) are base64url, padded or not, as
    # the Gmail reference says; the stock check accepts only padded standard base64.
    if not isinstance(value, str):
        return True
    try:
        base64.urlsafe_b64decode(value.replace("+", "-").replace("/", "_") + "=" * (-len(value) % 4))
    except (ValueError, binascii.Error):
        return False
    return True


@cache
def _openapi(name: str) -> OpenAPI:
    config = Config(extra_format_validators={"byte": _base64})
    return OpenAPI.from_dict(json.loads((SPECS / name).read_text()), config=config)


class _Request:
    """An httpx request in openapi-core's request protocol."""

    def __init__(self, request: httpx.Request) -> None:
        self._request = request
        url = request.url
        path = url.path
        if url.host == "graph.microsoft.com":
            path = _GRAPH_ACTIONS.sub(r"/microsoft.graph.\1", path)
        self._path = path
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qsl(url.query.decode(), keep_blank_values=True)),
            header=Headers(list(request.headers.items())),
            cookie=ImmutableMultiDict(),
        )

    @property
    def host_url(self) -> str:
        return f"{self._request.url.scheme}://{self._request.url.netloc.decode()}"

    @property
    def path(self) -> str:
        return self._path

    @property
    def full_url_pattern(self) -> str:
        return self.host_url + self._path

    @property
    def method(self) -> str:
        return self._request.method.lower()

    @property
    def body(self) -> bytes | None:
        return self._request.content or None

    @property
    def content_type(self) -> str:
        return self._request.headers.get("content-type", "application/json").split(";")[0]


class _Response:
    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.data = response.content
        self.content_type = response.headers.get("content-type", "application/json").split(";")[0]
        self.headers = Headers(list(response.headers.items()))


def check_request(request: httpx.Request) -> str | None:
    """Validate one request against its vendor's description; returns the spec's file name (None if none)."""
    name = _spec_file(request.url)
    if name is None:
        return None
    try:
        _openapi(name).validate_request(_Request(request))
    except Exception as exc:
        raise AssertionError(
            f"{request.method} {request.url} does not match {name}: {_reason(exc)}\n{request.content[:600]!r}"
        ) from exc
    return name


def check_response(request: httpx.Request, response: httpx.Response) -> None:
    name = _spec_file(request.url)
    if name is None or not response.content:
        return
    if name == "slack.json" and response.json().get("ok") is False:
        return  # Slack answers errors with HTTP 200; its description keeps their schema under `default`
    try:
        _openapi(name).validate_response(_Request(request), _Response(response))
    except Exception as exc:
        raise AssertionError(
            f"recorded response to {request.method} {request.url.path} does not match {name}: {_reason(exc)}"
        ) from exc


def _reason(exc: BaseException) -> str:
    parts = [f"{type(exc).__name__}: {exc}"]
    cause = exc.__cause__ or exc.__context__
    while cause is not None and len(parts) < 4:
        parts.append(f"{type(cause).__name__}: {cause}")
        schema_errors = getattr(cause, "schema_errors", None)
        if schema_errors:
            parts.extend(str(e.message) for e in list(schema_errors)[:3])  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
        cause = cause.__cause__ or cause.__context__
    return " <- ".join(parts)


@dataclass
class Replay:
    """The interactions left to serve, and every request made (for the test's own assertions)."""

    interactions: list[dict[str, Any]]
    calls: list[httpx.Request] = field(default_factory=list)
    checked: set[str] = field(default_factory=set)

    def requests(self, method: str, path_suffix: str) -> list[httpx.Request]:
        return [r for r in self.calls if r.method == method and r.url.path.endswith(path_suffix)]

    def json(self, method: str, path_suffix: str, index: int = 0) -> Any:
        return json.loads(self.requests(method, path_suffix)[index].content)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        for i, item in enumerate(self.interactions):
            recorded = urlsplit(item["request"]["uri"])
            if (
                item["request"]["method"] == request.method
                and recorded.netloc == request.url.netloc.decode()
                and recorded.path == request.url.path
            ):
                del self.interactions[i]
                break
        else:
            raise AssertionError(f"unrecorded request {request.method} {request.url}")
        spec = check_request(request)
        if spec:
            self.checked.add(spec)
        answer = item["response"]
        headers = answer.get("headers", {})
        response = (
            httpx.Response(answer["status"], json=answer["json"], headers=headers)
            if "json" in answer
            else httpx.Response(answer["status"], headers=headers)
        )
        if 200 <= response.status_code < 300:
            check_response(request, response)
        return response


def load(name: str) -> list[dict[str, Any]]:
    return list(json.loads((CASSETTES / f"{name}.json").read_text())["interactions"])


def recorded(name: str, method: str, path_suffix: str) -> Any:
    """The recorded JSON body answering the first `method` request whose path ends with `path_suffix`."""
    for item in load(name):
        if item["request"]["method"] == method and urlsplit(item["request"]["uri"]).path.endswith(path_suffix):
            return item["response"]["json"]
    raise KeyError(f"{name} has no {method} ...{path_suffix}")


@contextmanager
def replay(*names: str, all_used: bool = True) -> Iterator[Replay]:
    """Serve the named cassettes' interactions; with all_used, a recorded call the provider never made fails."""
    state = Replay([i for name in names for i in load(name)])
    with respx.mock(assert_all_called=False) as router:
        router.route().mock(side_effect=state.handle)
        yield state
    if all_used:
        left = [f"{i['request']['method']} {i['request']['uri']}" for i in state.interactions]
        assert not left, f"recorded interactions never requested: {left}"
