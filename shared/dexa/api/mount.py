"""Where the app is mounted, for the URLs it hands a browser (redirects, the page's links and modules).

Under `dexa serve` that is the origin's root. Behind API Gateway it is the stage (`https://…/v1/…`): the function
sees paths without it, but a browser sent to a root-relative `/ui/...` leaves the stage, and API Gateway answers
403. The Lambda entry puts the stage in the ASGI `root_path` (adapters/aws/stage_root.py); this reads it back.
"""

from __future__ import annotations

import re
from typing import Final

from starlette.requests import Request

# A mount point as API Gateway gives one: a stage ("/v1") or a custom domain's base path; anything else is ignored.
_ROOT: Final = re.compile(r"(/[A-Za-z0-9._~-]+)*")


def mount_root(request: Request) -> str:
    """ "" locally, "/v1" behind the v1 stage; prefix it to every root-relative URL sent to a browser."""
    root = str(request.scope.get("root_path") or "").rstrip("/")
    return root if _ROOT.fullmatch(root) else ""
