"""The git binary on the control-plane host: a clean environment (no system or global config, never a prompt).

An adapter, under the features that run git (code, gitproxy, transfer) and the GitHub fake that serves it.
"""

from .process import git_env, run_git

__all__ = ["git_env", "run_git"]
