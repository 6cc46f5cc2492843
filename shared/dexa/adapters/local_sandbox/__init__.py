"""The local Workspace: bubblewrap isolation, journaled exactly-once commands, confined file access."""

from .bwrap import probe_bwrap
from .limits import SandboxLimits
from .workspace import UNSANDBOXED_WARNING, LocalSandbox

__all__ = ["UNSANDBOXED_WARNING", "LocalSandbox", "SandboxLimits", "probe_bwrap"]
