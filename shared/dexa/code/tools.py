"""The agent's code tools: AddRepository, ListRepositories, OpenPullRequests.

They find the session's CodeSources in `ctx.services["code"]` and rebuild the RepoSet from the store each call,
so they hold no state of their own and survive a crash between steps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from dexa.core.errors import DexaError, ToolError
from dexa.core.ports import ToolSpec
from dexa.core.tools import ToolContext, ToolOutput

if TYPE_CHECKING:
    from .prs import LinkedPullRequests
    from .repos import RepoSet


class CodeService(Protocol):
    """What the tools use of `CodeSources`: named here, not imported, because sources imports these tools."""

    def repo_set_for(self, ctx: ToolContext) -> RepoSet: ...

    def prs(self, ctx: ToolContext | None = None) -> LinkedPullRequests: ...


def _code(ctx: ToolContext) -> CodeService:
    code = ctx.services.get("code")
    if code is None:
        raise ToolError("code sources are not configured for this session (no git proxy / GitHub App)")
    return code


class AddRepository:
    read_only = False

    def __init__(self) -> None:
        self.spec = ToolSpec(
            name="AddRepository",
            description=(
                "Clone a GitHub repository into the workspace so you can work on it. The clone is checked out on "
                "this session's branch (dexa/<session>-<topic>); commit there, and Dexa pushes it and opens linked "
                "pull requests. You can add several repositories, at any point in the session."
            ),
            input_schema={
                "type": "object",
                "properties": {
                    "repo": {"type": "string", "description": "owner/name, e.g. acme/api"},
                    "base": {"type": "string", "description": "Branch to start from (default: the repo's default)"},
                    "directory": {"type": "string", "description": "Where to clone, relative to the workspace"},
                    "topic": {
                        "type": "string",
                        "description": "A few words naming the change, used in the branch name (first repo)",
                    },
                },
                "required": ["repo"],
                "additionalProperties": False,
            },
        )

    async def run(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        repos = _code(ctx).repo_set_for(ctx)
        try:
            entry = await repos.add(
                str(tool_input.get("repo", "")),
                base=tool_input.get("base"),
                directory=tool_input.get("directory"),
                topic=tool_input.get("topic"),
            )
        except DexaError as exc:
            return ToolOutput(content=exc.message, is_error=True)
        return ToolOutput(
            content=(
                f"{entry.repo} is in {entry.path}, on branch {entry.branch} (from {entry.base} at "
                f"{entry.base_sha[:12]}). Its CLAUDE.md and .claude/ settings apply to work in that directory."
            ),
            data=entry.to_dict(),
        )


class ListRepositories:
    read_only = True

    def __init__(self) -> None:
        self.spec = ToolSpec(
            name="ListRepositories",
            description="List the repositories in this session: path, branch, base, whether they have changes, "
            "and any pull requests already opened.",
            input_schema={"type": "object", "properties": {}, "additionalProperties": False},
        )

    async def run(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        code = _code(ctx)
        repos = code.repo_set_for(ctx)
        entries = await repos.list()
        if not entries:
            return ToolOutput(content="No repositories yet. Use AddRepository to clone one.")
        prs = await code.prs().get(ctx.session_id, ctx.org_id)
        lines, data = [], []
        for entry in entries:
            changed = ""
            if entry.status == "ready":
                changes = await repos.changes(entry)
                changed = "modified" if changes.modified else "unchanged"
            pr = prs.find(entry.repo) if prs else None
            pr_text = f", PR {pr.url or pr.status}" if pr else ""
            lines.append(
                f"- {entry.repo}: {entry.path} on {entry.branch} (base {entry.base}), {entry.status}"
                f"{', ' + changed if changed else ''}{pr_text}"
            )
            data.append({**entry.to_dict(), "changed": changed, "pr": pr.to_dict() if pr else None})
        return ToolOutput(content="\n".join(lines), data={"repos": data})


class OpenPullRequests:
    read_only = False

    def __init__(self) -> None:
        self.spec = ToolSpec(
            name="OpenPullRequests",
            description=(
                "Commit and push every modified repository in this session, then open one pull request per "
                "repository; each links the others. Run it when the change is complete and tested. Calling it "
                "again pushes new commits to the same pull requests."
            ),
            input_schema={
                "type": "object",
                "properties": {
                    "title": {"type": "string", "description": "Pull request title (shared by the linked PRs)"},
                    "summary": {"type": "string", "description": "What changed and why, and how it was tested"},
                    "draft": {"type": "boolean", "description": "Open as draft pull requests"},
                },
                "required": ["title", "summary"],
                "additionalProperties": False,
            },
        )

    async def run(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        code = _code(ctx)
        try:
            prs = await code.prs(ctx).open(
                code.repo_set_for(ctx),
                title=str(tool_input.get("title", "")),
                summary=str(tool_input.get("summary", "")),
                draft=bool(tool_input.get("draft", False)),
            )
        except DexaError as exc:
            return ToolOutput(content=exc.message, is_error=True)
        lines = []
        for pr in prs.prs:
            where = pr.url or f"{pr.repo} ({pr.branch})"
            lines.append(f"- {pr.repo}: {pr.status} {where}{' - ' + pr.error if pr.error else ''}")
        head = (
            "Pull requests are staged for approval by a reviewer."
            if prs.status == "staged"
            else f"Linked pull requests ({prs.status}):"
        )
        return ToolOutput(content=head + "\n" + "\n".join(lines), is_error=prs.status == "partial", data=prs.to_dict())


def code_tools() -> list[AddRepository | ListRepositories | OpenPullRequests]:
    return [AddRepository(), ListRepositories(), OpenPullRequests()]
