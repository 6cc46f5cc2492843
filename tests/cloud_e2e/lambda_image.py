"""What AWS's managed Python runtime does not have, hidden from the emulated Lambda containers.

The containers see the host's /usr read-only, which holds tools the Lambda image (Amazon Linux 2023, minimal) does
not: code that shells out to them would pass here and fail on AWS. Each is masked by binding /dev/null over it (not
executable, so `shutil.which` skips it and exec fails with EACCES), and git's helper directory by an empty one.
"""

from __future__ import annotations

from pathlib import Path

# Not in the python3.x managed runtimes (checked against the AL2023 Lambda base image's package list).
ABSENT_BINARIES = (
    "git",
    "git-receive-pack",
    "git-upload-pack",
    "git-upload-archive",
    "git-shell",
    "bwrap",
    "rg",
)
ABSENT_DIRS = ("/usr/lib/git-core", "/usr/libexec/git-core", "/usr/share/git-core")
BIN_DIRS = ("/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin")


def mask_args(empty_dir: Path) -> list[str]:
    """bwrap arguments, placed after /usr is bound, that hide ABSENT_BINARIES and ABSENT_DIRS if the host has them."""
    empty_dir.mkdir(parents=True, exist_ok=True)
    args: list[str] = []
    for bin_dir in BIN_DIRS:
        for name in ABSENT_BINARIES:
            path = Path(bin_dir) / name
            if path.exists() or path.is_symlink():
                args += ["--ro-bind", "/dev/null", str(path)]
    for directory in ABSENT_DIRS:
        if Path(directory).is_dir():
            args += ["--ro-bind", str(empty_dir), directory]
    return args
