"""The offline code demo: one change across two repos, ending in two linked pull requests.

"Rename the user's `name` to `full_name` in the backend API contract and in the frontend client types." A
scripted agent (no model API needed) clones acme/api and acme/web through the git proxy, edits both, runs both test
suites in the sandbox, and calls OpenPullRequests. The repos are local bare repositories behind FakeGitHub; the
PR API is FakeGitHub's recorded REST fake, whose requests and pull requests are printed at the end (and served as
HTML at its URL while the demo runs). Run: `python -m dexa.demo.code_demo` (`make code-demo`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dexa.adapters.sqlite import SqliteStore
from dexa.core.driver import InProcessDriver
from dexa.core.engine import TurnEngine
from dexa.core.environment import SessionEnv
from dexa.core.ports import Workspace
from dexa.core.session import Session
from dexa.testing.fakes import RulePolicy, StaticEnvs
from dexa.testing.scripted import ScriptedModel, reply, text, tool_use

from .code_stack import local_code_stack

logger = logging.getLogger(__name__)

TASK = (
    "Rename the user's `name` field to `full_name` in the backend API contract (acme/api) and in the frontend "
    "client types (acme/web). Run both test suites, then open linked pull requests."
)
SESSION_ID = "ses_demo2repo0000000000"
ORG = "org_demo"
TEST_CMD = "python3 -m unittest -q"

API_FILES = {
    "README.md": "# acme/api\nThe users service. `GET /users/{id}` returns the contract in api/contract.py.\n",
    "api/__init__.py": "",
    "api/contract.py": (
        '"""The public contract of GET /users/{id}."""\n\n'
        'USER_FIELDS = ("id", "name", "email")\n\n\n'
        "def user_payload(user: dict) -> dict:\n"
        "    return {field: user[field] for field in USER_FIELDS}\n"
    ),
    "tests/__init__.py": "",
    "tests/test_contract.py": (
        "import unittest\n\nfrom api.contract import USER_FIELDS, user_payload\n\n\n"
        "class ContractTest(unittest.TestCase):\n"
        "    def test_payload_has_exactly_the_contract_fields(self):\n"
        '        user = {"id": 1, "name": "Ada Lovelace", "email": "ada@example.com", "password_hash": "x"}\n'
        "        self.assertEqual(set(user_payload(user)), set(USER_FIELDS))\n"
        '        self.assertEqual(user_payload(user)["name"], "Ada Lovelace")\n'
    ),
}
WEB_FILES = {
    "README.md": "# acme/web\nThe web app. web/client.py holds the typed client for the users API.\n",
    "web/__init__.py": "",
    "web/client.py": (
        '"""Typed client for the users API."""\n\nfrom typing import TypedDict\n\n\n'
        "class User(TypedDict):\n    id: int\n    name: str\n    email: str\n\n\n"
        "def parse_user(payload: dict) -> User:\n"
        '    return User(id=int(payload["id"]), name=str(payload["name"]), email=str(payload["email"]))\n'
    ),
    "tests/__init__.py": "",
    "tests/test_client.py": (
        "import unittest\n\nfrom web.client import parse_user\n\n\n"
        "class ClientTest(unittest.TestCase):\n"
        "    def test_parses_the_api_payload(self):\n"
        '        user = parse_user({"id": "1", "name": "Ada Lovelace", "email": "ada@example.com"})\n'
        '        self.assertEqual(user["name"], "Ada Lovelace")\n'
    ),
}
REPOS = {"acme/api": API_FILES, "acme/web": WEB_FILES}


def demo_steps(root: str) -> list[Any]:
    """What the scripted agent does, as model turns."""
    api, web = f"{root}/api", f"{root}/web"
    return [
        reply(
            "I'll clone both repositories.",
            tool_use("AddRepository", {"repo": "acme/api", "topic": "user full name"}),
            tool_use("AddRepository", {"repo": "acme/web"}),
        ),
        reply(
            "Reading the contract, the client types and their tests.",
            *(
                tool_use("Read", {"file_path": p})
                for p in (
                    f"{api}/api/contract.py",
                    f"{api}/tests/test_contract.py",
                    f"{web}/web/client.py",
                    f"{web}/tests/test_client.py",
                )
            ),
        ),
        reply(
            "Renaming the field on both sides of the contract.",
            tool_use(
                "Edit",
                {
                    "file_path": f"{api}/api/contract.py",
                    "old_string": '"id", "name", "email"',
                    "new_string": '"id", "full_name", "email"',
                },
            ),
            tool_use(
                "Edit",
                {
                    "file_path": f"{api}/tests/test_contract.py",
                    "old_string": '"name"',
                    "new_string": '"full_name"',
                    "replace_all": True,
                },
            ),
            tool_use(
                "Edit",
                {
                    "file_path": f"{web}/web/client.py",
                    "old_string": "    name: str",
                    "new_string": "    full_name: str",
                },
            ),
            tool_use(
                "Edit",
                {
                    "file_path": f"{web}/web/client.py",
                    "old_string": 'name=str(payload["name"])',
                    "new_string": 'full_name=str(payload["full_name"])',
                },
            ),
            tool_use(
                "Edit",
                {
                    "file_path": f"{web}/tests/test_client.py",
                    "old_string": '"name"',
                    "new_string": '"full_name"',
                    "replace_all": True,
                },
            ),
        ),
        reply(
            "Running both test suites in the sandbox.",
            tool_use(
                "Bash",
                {
                    "command": f"cd {api} && {TEST_CMD} && cd {web} && {TEST_CMD} && echo BOTH-SUITES-PASS",
                    "description": "Run the api and web tests",
                },
            ),
        ),
        reply(
            "Both suites pass. Opening the linked pull requests.",
            tool_use(
                "OpenPullRequests",
                {
                    "title": "Rename user.name to user.full_name",
                    "summary": "The users API now returns `full_name` instead of `name`; the web client's `User` type "
                    "and parser follow. Both test suites pass (`python3 -m unittest`).",
                },
            ),
        ),
        reply("Checking what the session now holds.", tool_use("ListRepositories", {})),
        text(
            "Done: the API contract and the client types both use `full_name`, both test suites pass, and the two "
            "linked pull requests are open."
        ),
    ]


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoOutcome:
    session: Session
    pulls: dict[str, list[dict[str, Any]]]
    requests: list[dict[str, Any]]
    bash_output: str
    repo_listing: str
    github_url: str


def _workspace(root: Path, state: Path) -> Workspace:
    from dexa.adapters.local_sandbox import LocalSandbox, probe_bwrap

    # Run the test suites under bubblewrap when this machine can; otherwise say so and run them plainly.
    sandboxed = probe_bwrap() is None
    if not sandboxed:
        logger.warning("bubblewrap is unavailable here: the demo's Bash runs unsandboxed")
    return LocalSandbox(str(root), state_dir=str(state), unsandboxed=not sandboxed)


async def run_demo(base: Path) -> DemoOutcome:
    """Run the whole demo under `base` (a fresh directory) and return what it produced."""
    from dexa.checkpoints import record_side_effect
    from dexa.tools.registry import default_registry

    store = SqliteStore(base / "dexa.sqlite")
    root = base / "workspace"
    root.mkdir(parents=True)
    try:
        engine_ref: list[TurnEngine] = []

        async def emit(session_id: str, type_: str, data: Any) -> None:
            await engine_ref[0].emit(session_id, type_, data)

        async with local_code_stack(
            base / "stack", repos=REPOS, kv=store, emit=emit, record_side_effect=record_side_effect
        ) as stack:
            workspace = _workspace(root, base / "sandbox-state")
            tools = default_registry()
            for tool in stack.code.tools():
                tools.add(tool)
            model = ScriptedModel(demo_steps(str(root)))
            env = SessionEnv(
                model=model,
                tools=tools,
                policy=RulePolicy(),
                workspace=workspace,
                system_prompt=await stack.code.system_prompt(SESSION_ID, ORG),
                can_prompt=False,
                services={"code": stack.code},
            )
            engine = TurnEngine(store, StaticEnvs(env))
            engine_ref.append(engine)
            await store.create_session(
                Session(
                    id=SESSION_ID,
                    org_id=ORG,
                    user_id="usr_demo",
                    cwd=str(root),
                    model="scripted",
                    title="rename name to full_name",
                    created_at=time.time(),
                )
            )
            await engine.submit(SESSION_ID, TASK)
            session = await InProcessDriver(engine).run(SESSION_ID, wait_for_approvals=False)
            records = await store.list_tool_records(SESSION_ID)
            bash = next((r.result or {} for r in records if r.name == "Bash"), {})
            listing = next((r.result or {} for r in records if r.name == "ListRepositories"), {})
            state = stack.fake.state()
            await workspace.close()
            return DemoOutcome(
                session=session,
                pulls=state["pulls"],
                requests=state["requests"],
                bash_output=str(bash.get("content", "")),
                repo_listing=str(listing.get("content", "")),
                github_url=stack.github_url,
            )
    finally:
        store.close()


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    base = Path(tempfile.mkdtemp(prefix="dexa-code-demo-"))
    outcome = asyncio.run(run_demo(base))
    out = sys.stdout
    out.write(f"Task: {TASK}\n\nSession {outcome.session.id}: {outcome.session.status}\n{outcome.session.result}\n\n")
    out.write(f"Tests in the sandbox:\n{outcome.bash_output.strip()}\n\n")
    out.write(f"Repositories in the session:\n{outcome.repo_listing}\n\n")
    for repo, pulls in outcome.pulls.items():
        for pr in pulls:
            out.write(
                f"=== {repo}#{pr['number']} [{pr['state']}] {pr['title']}  ({pr['head']['ref']} -> "
                f"{pr['base']['ref']})\n{pr['body']}\n"
            )
    out.write(
        "Recorded GitHub API requests:\n"
        + "\n".join(f"  {r['method']} {r['path']} -> {r['status']}" for r in outcome.requests)
        + "\n"
    )
    out.write(f"\nWorkspace and repositories kept in {base}\n")
    json.dump({"pulls": outcome.pulls}, (base / "pulls.json").open("w"), indent=2)
    ok = outcome.session.status == "idle" and all(len(p) == 1 for p in outcome.pulls.values())
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
