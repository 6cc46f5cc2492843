"""Where things live in a session's Modal sandbox: names only, so a caller that needs a path (the API checking a
session's working directory) imports neither the image's toolchain list nor the workspace adapter."""

from __future__ import annotations

APP_NAME = "dexa-sandbox"
WORKDIR = "/workspace"
STATE_DIR = "/var/lib/dexa/jobs"  # job journals (outside the workspace, so checkpoints and walks skip them)
