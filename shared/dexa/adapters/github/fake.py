"""FakeGitHub: a visible, recorded stand-in for github.com + api.github.com, for tests and the offline demo.

- git smart HTTP at `/<owner>/<name>.git/...` (real `git http-backend` over local bare repositories);
- the REST subset Dexa uses at `/api/v3/...` (GitHub Enterprise's layout), with GitHub's documented shapes;
- App auth: installation tokens are minted only for a JWT that verifies against the App's public key;
- `/` renders the pull requests as HTML and `/_fake/state` returns everything as JSON, so a person can look.

Every REST request is appended to `requests`; pushes that reached git are in `pushes`.
"""

from __future__ import annotations

import html
import secrets
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from dexa.adapters.git import git_env

from .fake_git import git_host_routes, init_bare_repo

Json = dict[str, Any]


@dataclass(slots=True)
class FakeGitHub:
    root: Path
    app_id: str = "4242"
    app_public_key: rsa.RSAPublicKey | None = None
    installation_id: int = 77
    static_tokens: set[str] = field(default_factory=set)
    token_lifetime_s: int = 3600
    repos: dict[str, Json] = field(default_factory=dict)
    pulls: dict[str, list[Json]] = field(default_factory=dict)
    comments: list[Json] = field(default_factory=list)
    check_runs: list[Json] = field(default_factory=list)
    requests: list[Json] = field(default_factory=list)
    pushes: list[dict[str, str]] = field(default_factory=list)
    tokens: dict[str, float] = field(default_factory=dict)
    base_url: str = "http://github.test"

    # ------------------------------------------------------------ setup

    def add_repo(self, repo: str, files: Mapping[str, str], *, default_branch: str = "main") -> Path:
        bare = init_bare_repo(self.root, repo, files, branch=default_branch)
        self.repos[repo] = {"full_name": repo, "default_branch": default_branch, "private": True}
        self.pulls.setdefault(repo, [])
        return bare

    def use_app_key(self, private_key: rsa.RSAPrivateKey) -> None:
        self.app_public_key = private_key.public_key()

    def mint_token(self) -> str:
        token = "ghs_" + secrets.token_hex(18)
        self.tokens[token] = time.time() + self.token_lifetime_s
        return token

    def token_valid(self, token: str) -> bool:
        return token in self.static_tokens or self.tokens.get(token, 0.0) > time.time()

    def branch_sha(self, repo: str, branch: str) -> str | None:
        proc = subprocess.run(
            ["git", "rev-parse", "--verify", "-q", f"refs/heads/{branch}"],
            cwd=self.root / f"{repo}.git",
            capture_output=True,
            text=True,
            env=git_env(),
        )
        return proc.stdout.strip() or None

    def file_at(self, repo: str, ref: str, path: str) -> str:
        proc = subprocess.run(
            ["git", "show", f"{ref}:{path}"],
            cwd=self.root / f"{repo}.git",
            capture_output=True,
            text=True,
            env=git_env(),
            check=True,
        )
        return proc.stdout

    # ------------------------------------------------------------ auth

    def _jwt_ok(self, token: str) -> bool:
        if self.app_public_key is None:
            return False
        try:
            # leeway 1: GitHub tolerates an `iat` a moment ahead of its clock
            claims = jwt.decode(
                token,
                self.app_public_key,
                algorithms=["RS256"],
                issuer=self.app_id,
                leeway=1,
                options={"require": ["iat", "exp", "iss"]},
            )
        except jwt.InvalidTokenError:
            return False
        return claims["exp"] - claims["iat"] <= 600

    def _bearer(self, request: Request) -> str:
        header = request.headers.get("authorization", "")
        return header[7:].strip() if header.lower().startswith("bearer ") else ""

    # ------------------------------------------------------------ REST

    def _error(self, status: int, message: str, errors: list[Json] | None = None) -> JSONResponse:
        body: Json = {"message": message, "documentation_url": "https://docs.github.com/rest"}
        if errors:
            body["errors"] = errors
        return JSONResponse(body, status_code=status)

    def _pull_json(self, repo: str, pr: Json) -> Json:
        owner = repo.split("/")[0]
        api = f"{self.base_url}/api/v3/repos/{repo}"
        return {
            "url": f"{api}/pulls/{pr['number']}",
            "id": pr["id"],
            "node_id": f"PR_{pr['id']}",
            "html_url": f"{self.base_url}/{repo}/pull/{pr['number']}",
            "number": pr["number"],
            "state": pr["state"],
            "locked": False,
            "title": pr["title"],
            "body": pr["body"],
            "user": {"login": "dexa-app[bot]", "type": "Bot"},
            "draft": pr["draft"],
            "created_at": pr["created_at"],
            "updated_at": pr["updated_at"],
            "closed_at": pr.get("closed_at"),
            "merged_at": None,
            "merged": False,
            "head": {
                "label": f"{owner}:{pr['head']}",
                "ref": pr["head"],
                "sha": self.branch_sha(repo, pr["head"]) or pr["head_sha"],
                "repo": {"full_name": repo},
            },
            "base": {
                "label": f"{owner}:{pr['base']}",
                "ref": pr["base"],
                "sha": self.branch_sha(repo, pr["base"]),
                "repo": {"full_name": repo},
            },
        }

    async def _rest(self, request: Request) -> Response:
        path = "/" + request.path_params["path"]
        response = await self._route(request, path)
        self.requests.append({"method": request.method, "path": path, "status": response.status_code})
        return response

    async def _route(self, request: Request, path: str) -> Response:
        parts = path.strip("/").split("/")
        method = request.method
        if parts[:2] == ["app", "installations"] and len(parts) == 4 and parts[3] == "access_tokens":
            if not self._jwt_ok(self._bearer(request)):
                return self._error(401, "A JSON web token could not be decoded")
            if int(parts[2]) != self.installation_id:
                return self._error(404, "Not Found")
            token = self.mint_token()
            expires = datetime.fromtimestamp(self.tokens[token], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            return JSONResponse(
                {
                    "token": token,
                    "expires_at": expires,
                    "repository_selection": "all",
                    "permissions": {"contents": "write", "pull_requests": "write"},
                },
                status_code=201,
            )
        if parts[0] != "repos" or len(parts) < 3:
            return self._error(404, "Not Found")
        repo, rest = f"{parts[1]}/{parts[2]}", parts[3:]
        if rest == ["installation"]:
            if not self._jwt_ok(self._bearer(request)):
                return self._error(401, "A JSON web token could not be decoded")
            if repo not in self.repos:
                return self._error(404, "Not Found")
            return JSONResponse(
                {
                    "id": self.installation_id,
                    "app_id": int(self.app_id),
                    "account": {"login": parts[1]},
                    "repository_selection": "all",
                }
            )
        if not self.token_valid(self._bearer(request)):
            return self._error(401, "Bad credentials")
        if repo not in self.repos:
            return self._error(404, "Not Found")
        body: Json = await request.json() if method in ("POST", "PATCH") else {}
        if not rest and method == "GET":
            return JSONResponse({**self.repos[repo], "html_url": f"{self.base_url}/{repo}"})
        if rest == ["pulls"]:
            return self._create_pull(repo, body) if method == "POST" else self._list_pulls(repo, request)
        if len(rest) == 2 and rest[0] == "pulls":
            return self._one_pull(repo, int(rest[1]), method, body)
        if len(rest) == 3 and rest[0] == "issues" and rest[2] == "comments" and method == "POST":
            comment = {
                "id": len(self.comments) + 1,
                "body": body.get("body", ""),
                "repo": repo,
                "issue_number": int(rest[1]),
                "html_url": f"{self.base_url}/{repo}/issues/{rest[1]}#issuecomment-{len(self.comments) + 1}",
                "user": {"login": "dexa-app[bot]", "type": "Bot"},
            }
            self.comments.append(comment)
            return JSONResponse(comment, status_code=201)
        if rest == ["check-runs"] and method == "POST":
            run = {"id": len(self.check_runs) + 1, "repo": repo, **body}
            self.check_runs.append(run)
            return JSONResponse(run, status_code=201)
        if rest[:3] == ["git", "refs", "heads"] and method == "DELETE":
            branch = "/".join(rest[3:])
            if self.branch_sha(repo, branch) is None:
                return self._error(422, "Reference does not exist")
            subprocess.run(
                ["git", "update-ref", "-d", f"refs/heads/{branch}"],
                cwd=self.root / f"{repo}.git",
                check=True,
                env=git_env(),
            )
            return Response(status_code=204)
        return self._error(404, "Not Found")

    def _create_pull(self, repo: str, body: Json) -> Response:
        head, base = str(body.get("head", "")), str(body.get("base", ""))
        head = head.split(":", 1)[1] if ":" in head else head
        missing = [f for f in ("title", "head", "base") if not body.get(f)]
        if missing:
            return self._error(
                422,
                "Validation Failed",
                [{"resource": "PullRequest", "field": f, "code": "missing_field"} for f in missing],
            )
        head_sha = self.branch_sha(repo, head)
        if head_sha is None or self.branch_sha(repo, base) is None:
            field_name = "head" if head_sha is None else "base"
            return self._error(
                422, "Validation Failed", [{"resource": "PullRequest", "field": field_name, "code": "invalid"}]
            )
        if any(p["head"] == head and p["state"] == "open" for p in self.pulls[repo]):
            return self._error(
                422,
                "Validation Failed",
                [
                    {
                        "resource": "PullRequest",
                        "code": "custom",
                        "message": f"A pull request already exists for {repo.split('/')[0]}:{head}.",
                    }
                ],
            )
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        number = 1 + sum(len(v) for v in self.pulls.values())
        pr = {
            "id": 1000 + number,
            "number": number,
            "state": "open",
            "title": body["title"],
            "body": body.get("body") or "",
            "draft": bool(body.get("draft")),
            "head": head,
            "base": base,
            "head_sha": head_sha,
            "created_at": now,
            "updated_at": now,
        }
        self.pulls[repo].append(pr)
        return JSONResponse(self._pull_json(repo, pr), status_code=201)

    def _list_pulls(self, repo: str, request: Request) -> Response:
        state = request.query_params.get("state", "open")
        head = request.query_params.get("head", "")
        head = head.split(":", 1)[1] if ":" in head else head
        found = [
            p for p in self.pulls[repo] if (state == "all" or p["state"] == state) and (not head or p["head"] == head)
        ]
        return JSONResponse([self._pull_json(repo, p) for p in found])

    def _one_pull(self, repo: str, number: int, method: str, body: Json) -> Response:
        pr = next((p for p in self.pulls[repo] if p["number"] == number), None)
        if pr is None:
            return self._error(404, "Not Found")
        if method == "PATCH":
            for key in ("title", "body", "state"):
                if key in body:
                    pr[key] = body[key]
            pr["updated_at"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            if body.get("state") == "closed":
                pr["closed_at"] = pr["updated_at"]
        return JSONResponse(self._pull_json(repo, pr))

    # ------------------------------------------------------------ views

    def state(self) -> Json:
        return {
            "repos": self.repos,
            "pulls": {r: [self._pull_json(r, p) for p in ps] for r, ps in self.pulls.items()},
            "comments": self.comments,
            "check_runs": self.check_runs,
            "requests": self.requests,
        }

    async def _index(self, request: Request) -> Response:
        rows = []
        for repo, prs in self.pulls.items():
            for pr in prs:
                rows.append(
                    f"<li><b>{html.escape(repo)}#{pr['number']}</b> [{pr['state']}] "
                    f"{html.escape(pr['title'])} <code>{html.escape(pr['head'])} → {html.escape(pr['base'])}"
                    f"</code><pre>{html.escape(pr['body'])}</pre></li>"
                )
        return HTMLResponse("<h1>FakeGitHub pull requests</h1><ul>" + "".join(rows) + "</ul>")

    def app(self) -> Starlette:
        async def state(_: Request) -> Response:
            return JSONResponse(self.state())

        routes = [
            Route("/", self._index),
            Route("/_fake/state", state),
            Route("/api/v3/{path:path}", self._rest, methods=["GET", "POST", "PATCH", "DELETE"]),
            *git_host_routes(self.root, lambda _repo, tok: self.token_valid(tok), self.pushes),
        ]
        return Starlette(routes=routes)


def new_app_key() -> tuple[rsa.RSAPrivateKey, str]:
    """A fresh RSA key and its PEM, as GitHub would hand an App (tests and the demo)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()
    return key, pem
