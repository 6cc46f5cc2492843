"""A git smart-HTTP host over local bare repositories: real `git http-backend` (CGI) behind an ASGI app.

It stands in for github.com in tests and the offline demo. Like GitHub it wants HTTP Basic auth with the user
`x-access-token` and an installation token as the password, so a test can prove the proxy injected the real
credential and the workspace never had it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from dexa.adapters.git import git_env

logger = logging.getLogger(__name__)

HTTP_BACKEND = os.environ.get("DEXA_GIT_HTTP_BACKEND", "/usr/lib/git-core/git-http-backend")
_REPO = re.compile(r"^[A-Za-z0-9_.-]+$")
_FORWARDED_HEADERS = ("content-type", "cache-control", "expires", "pragma", "content-encoding")


_TEMPLATES: dict[str, Path] = {}
_SEED_ENV = {
    "GIT_AUTHOR_NAME": "Seed",
    "GIT_AUTHOR_EMAIL": "seed@example.invalid",
    "GIT_COMMITTER_NAME": "Seed",
    "GIT_COMMITTER_EMAIL": "seed@example.invalid",
    # A fixed date makes the seed commit, and so every later sha, the same on each run.
    "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z",
}


def _seed_template(files: Mapping[str, str], branch: str, message: str) -> Path:
    """A bare repo with one commit of `files`, built once per process and content."""
    key = hashlib.sha256(json.dumps([sorted(files.items()), branch, message]).encode()).hexdigest()[:16]
    cached = _TEMPLATES.get(key)
    if cached is not None and cached.is_dir():
        return cached
    base = Path(tempfile.mkdtemp(prefix="dexa-seed-"))
    bare, work = base / "repo.git", base / "work"
    env = git_env(_SEED_ENV)
    subprocess.run(["git", "init", "-q", "--bare", "-b", branch, str(bare)], check=True, env=env)
    subprocess.run(["git", "init", "-q", "-b", branch, str(work)], check=True, env=env)
    for name, text in files.items():
        path = work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    subprocess.run(["git", "add", "-A"], cwd=work, check=True, env=env)
    subprocess.run(["git", "commit", "-q", "-m", message], cwd=work, check=True, env=env)
    subprocess.run(["git", "push", "-q", str(bare), f"HEAD:refs/heads/{branch}"], cwd=work, check=True, env=env)
    _TEMPLATES[key] = bare
    return bare


def init_bare_repo(
    root: Path, repo: str, files: Mapping[str, str], *, branch: str = "main", message: str = "initial commit"
) -> Path:
    """Create `root/<owner>/<name>.git` holding one commit with `files` on `branch`. Synchronous: setup only."""
    bare = root / f"{repo}.git"
    bare.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(_seed_template(files, branch, message), bare)
    return bare


async def run_http_backend(
    *,
    project_root: Path,
    path_info: str,
    method: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    remote_user: str,
) -> Response:
    """One CGI request to git-http-backend; its headers and body become the response."""
    env = git_env(
        {
            "GIT_PROJECT_ROOT": str(project_root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": path_info,
            "QUERY_STRING": query,
            "REQUEST_METHOD": method,
            "CONTENT_TYPE": headers.get("content-type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": remote_user,
            "REMOTE_ADDR": "127.0.0.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
        }
    )
    if headers.get("git-protocol"):
        env["HTTP_GIT_PROTOCOL"] = env["GIT_PROTOCOL"] = headers["git-protocol"]
    if headers.get("content-encoding"):
        env["HTTP_CONTENT_ENCODING"] = headers["content-encoding"]
    proc = await asyncio.create_subprocess_exec(
        HTTP_BACKEND,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate(body)
    if err:
        logger.debug("git-http-backend: %s", err.decode(errors="replace").strip())
    sep = out.find(b"\r\n\r\n")
    head, payload = (out[:sep], out[sep + 4 :]) if sep >= 0 else out.split(b"\n\n", 1) if b"\n\n" in out else (out, b"")
    status, response_headers = 200, {}
    for line in head.decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = int(value.strip().split()[0])
        elif name.lower() in _FORWARDED_HEADERS:
            response_headers[name] = value.strip()
    return Response(payload, status_code=status, headers=response_headers)


def basic_password(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:].strip()).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return user, password


def git_host_routes(
    project_root: Path, token_ok: Callable[[str, str], bool], pushes: list[dict[str, str]] | None = None
) -> list[Route]:
    """Routes serving `/<owner>/<name>.git/...` from `project_root`. `token_ok(repo, token)` authorises."""

    async def endpoint(request: Request) -> Response:
        owner, name = request.path_params["owner"], request.path_params["name"]
        if not name.endswith(".git") or not _REPO.match(owner) or not _REPO.match(name[:-4]):
            return PlainTextResponse("not a repository path", status_code=404)
        repo = f"{owner}/{name[:-4]}"
        creds = basic_password(request.headers.get("authorization"))
        if creds is None or creds[0] != "x-access-token" or not token_ok(repo, creds[1]):
            return PlainTextResponse(
                "Invalid username or token.", status_code=401, headers={"WWW-Authenticate": 'Basic realm="GitHub"'}
            )
        if not (project_root / f"{repo}.git").is_dir():
            return PlainTextResponse("Repository not found.", status_code=404)
        rest = request.path_params["rest"]
        body = await request.body()
        if pushes is not None and rest == "git-receive-pack":
            pushes.append({"repo": repo, "token": creds[1]})
        return await run_http_backend(
            project_root=project_root,
            path_info=f"/{repo}.git/{rest}",
            method=request.method,
            query=request.url.query,
            headers=request.headers,
            body=body,
            remote_user="x-access-token",
        )

    return [Route("/{owner}/{name}/{rest:path}", endpoint, methods=["GET", "POST"])]
