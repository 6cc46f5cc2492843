"""Names in the code workflow: repositories (`owner/name`), a session's short id, and its branches.

Every branch a session pushes is `dexa/<session-short>-<slug>`; the git proxy allows pushes under
`dexa/<session-short>-` only, so the name itself is the authorisation boundary between sessions.
"""

from __future__ import annotations

import re
import unicodedata

from dexa.core.errors import ToolInputError

_REPO = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
_SLUG_DROP = re.compile(r"[^a-z0-9]+")
_BRANCH_SAFE = re.compile(r"^[A-Za-z0-9._/-]+$")
SHORT_LEN = 8
SLUG_MAX = 40


def parse_repo(text: str) -> str:
    """Normalise `owner/name`, `github:owner/name`, `https://github.com/owner/name(.git)` to `owner/name`.

    Raises:
        ToolInputError: the text names no repository.
    """
    value = text.strip()
    for prefix in ("github:", "https://github.com/", "http://github.com/", "git@github.com:"):
        if value.lower().startswith(prefix):
            value = value[len(prefix) :]
    value = value.removesuffix("/").removesuffix(".git")
    if not _REPO.match(value) or value.endswith((".", "/..")) or ".." in value:
        raise ToolInputError(f"{text!r} is not a repository: expected owner/name, e.g. acme/api")
    return value


def parse_source(text: str) -> tuple[str, str | None] | None:
    """A session source naming a repo, `github:owner/name[@base]`, as (repo, base); None for other sources."""
    if not text.lower().startswith("github:"):
        return None
    spec, _, base = text.partition("@")
    if base and not valid_branch(base):
        raise ToolInputError(f"source {text!r}: {base!r} is not a branch name")
    return parse_repo(spec), base or None


def session_short(session_id: str) -> str:
    """The session's short id: the first 8 id characters after the type prefix (`ses_`)."""
    core = session_id.split("_", 1)[1] if "_" in session_id else session_id
    short = re.sub(r"[^a-z0-9]", "", core.lower())[:SHORT_LEN]
    if not short:
        raise ToolInputError(f"session id {session_id!r} has no usable characters for a branch name")
    return short


def slugify(text: str, *, fallback: str = "changes") -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    slug = _SLUG_DROP.sub("-", ascii_text).strip("-")
    if len(slug) > SLUG_MAX:
        slug = slug[:SLUG_MAX].rsplit("-", 1)[0] or slug[:SLUG_MAX]
    return slug or fallback


def branch_prefix(session_id: str) -> str:
    return f"dexa/{session_short(session_id)}-"


def branch_name(session_id: str, slug_source: str) -> str:
    """`dexa/<session-short>-<slug>`."""
    return branch_prefix(session_id) + slugify(slug_source)


def valid_branch(name: str) -> bool:
    """A conservative subset of `git check-ref-format --branch`."""
    return (
        bool(_BRANCH_SAFE.match(name))
        and ".." not in name
        and "//" not in name
        and not name.startswith(("/", "-", "."))
        and not name.endswith(("/", ".", ".lock"))
    )
