"""ModalSandbox: the Workspace port on a Modal Sandbox (modal 1.6), one named sandbox per session.

- Named `dexa-<session>` in one app, so any Lambda reattaches with Sandbox.from_name; created on first use.
- Durable: the session's Volume is mounted at the workspace mount (/workspace); when the sandbox has ended (idle
  timeout, maximum lifetime) the next use creates a new one on the same volume and checks the marker (durable.py),
  so files and job journals survive and a lost workspace is an error, never a silent empty one.
- Network: blocked unless the session grants it; a CIDR allowlist when policy gives one (outbound only).
- No secrets: no modal.Secret is attached and secret-looking environment variables are dropped.
- Commands are detached jobs with a journal on the volume (runner.py), so a command outlives the Lambda that
  started it and `recover(job_id)` in the next Lambda reports it instead of running it again.
- Files go through the `sb.filesystem` API (Sandbox.open no longer exists in 1.6); checkpoints use one listing
  exec and batched reads/writes (tree.py) instead of a round trip per file.
"""

from __future__ import annotations

import asyncio
import json
import logging
import posixpath
import re
import shlex
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from dexa.core.errors import SandboxError
from dexa.core.ports import BackgroundJob, ExecResult

from .attach import CONTROL_DIR, EventSink, OutputSink, SandboxAttach
from .durable import MemoryWorkspaceRecord, WorkspaceRecord, volume_name
from .image import APP_NAME, WORKDIR
from .runner import RUNNER
from .tree import TreeOps

logger = logging.getLogger(__name__)

STREAM_CAP = 1 << 20
_SECRET_ENV = re.compile(r"^(AWS_|ANTHROPIC_|MODAL_)|(^|_)(TOKEN|SECRET|PASSWORD|API_KEY|PRIVATE_KEY)$", re.I)
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")
_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


async def _discard(chunk: str) -> None:
    """Without a sink the job's stdout still streams; collect returns it, so the stream itself is dropped."""


def _job_dir_name(job_id: str) -> str:
    safe = _SAFE.sub("_", job_id)
    return (
        safe
        if safe == job_id and 0 < len(job_id) <= 100 and job_id not in (".", "..")
        else ("h-" + uuid.uuid5(uuid.NAMESPACE_URL, job_id).hex)
    )


class ModalSandbox(SandboxAttach, TreeOps):
    """A session's isolated workspace on Modal. Construct cheaply; the sandbox is found or created on first use.

    Args:
        session_id: names the sandbox (`dexa-<session_id>`), so every Lambda of the session shares it.
        network: full outbound network. Otherwise blocked, unless `cidr_allowlist` names reachable ranges or
            `domain_allowlist` reachable hosts (the git credential proxy: the only way repos enter and leave).
        root: the session's working directory, inside `mount`.
        mount: where the session's Volume is mounted (the workspace namespace; /workspace).
        idle_timeout_s: Modal ends the sandbox after this long without an exec; the volume keeps the files.
        lifetime_s: hard cap on the sandbox's life (Modal's maximum is 24 h); the volume keeps the files.
        record: where the session remembers its volume's marker (the store); in memory when not given.
        modal_module: the `modal` package, or a fake of its surface in tests.
        on_output: called with stdout chunks of foreground commands as they arrive (streaming).
        on_event: called with (event type, data) when the workspace is restored or found lost.
        env: where the Modal token is looked up (os.environ by default).
    """

    def __init__(
        self,
        session_id: str,
        *,
        root: str = WORKDIR,
        mount: str = WORKDIR,
        extra_roots: Sequence[str] = (),
        app_name: str = APP_NAME,
        network: bool = False,
        cidr_allowlist: Sequence[str] = (),
        domain_allowlist: Sequence[str] = (),
        idle_timeout_s: int = 900,
        lifetime_s: int = 24 * 3600,
        cpu: float | None = None,
        memory_mb: int | None = None,
        tags: Mapping[str, str] | None = None,
        image: Any = None,
        state_dir: str | None = None,
        environment_name: str | None = None,
        modal_module: Any = None,
        on_output: OutputSink | None = None,
        on_event: EventSink | None = None,
        record: WorkspaceRecord | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        state_dir = state_dir or posixpath.join(mount, CONTROL_DIR, "jobs")
        for path in (root, mount, *extra_roots, state_dir):
            if not posixpath.isabs(path):
                raise SandboxError(f"Modal workspace paths must be absolute, got {path!r}")
        self.session_id = session_id
        self.root = posixpath.normpath(root)
        self.mount = posixpath.normpath(mount)
        if not (self.root == self.mount or self.root.startswith(self.mount.rstrip("/") + "/")):
            raise SandboxError(f"the working directory {root!r} must be inside the workspace volume {mount!r}")
        self._extra_roots = tuple(posixpath.normpath(p) for p in extra_roots)
        self.app_name = app_name
        self.network = network
        self.cidr_allowlist = tuple(cidr_allowlist)
        self.domain_allowlist = tuple(domain_allowlist)
        self.idle_timeout_s = idle_timeout_s
        self.lifetime_s = lifetime_s
        self.cpu, self.memory_mb = cpu, memory_mb
        self.tags = {"app": "dexa", "session": session_id, **dict(tags or {})}
        self.state_dir = posixpath.normpath(state_dir)
        self.environment_name = environment_name
        self.on_output = on_output
        self.on_event = on_event
        self.record: WorkspaceRecord = record if record is not None else MemoryWorkspaceRecord()
        self.volume_name = volume_name(session_id)
        self.restarts = 0  # sandboxes this handle re-created on the volume (restores)
        self._token_env = env
        self._image = image
        self._modal_module = modal_module
        self._sb: Any = None
        self._attach_locks: dict[int, asyncio.Lock] = {}

    is_remote = True  # no host path: checkpoints use the tree listing (tree.py)

    # ------------------------------------------------------------ the sandbox

    @property
    def extra_roots(self) -> tuple[str, ...]:
        return self._extra_roots

    @property
    def roots(self) -> tuple[str, ...]:
        return (self.root, *self._extra_roots)

    # ------------------------------------------------------------ paths and environment

    def contains(self, path: str) -> bool:
        return any(path == r or path.startswith(r.rstrip("/") + "/") for r in self.roots)

    def resolve(self, path: str) -> str:
        if not isinstance(path, str) or not path or "\x00" in path:
            raise SandboxError(f"Invalid path {path!r}")
        if not posixpath.isabs(path):
            raise SandboxError(f"Path must be absolute, got {path!r} (the workspace is {self.root})")
        normal = posixpath.normpath(path)
        if not self.contains(normal):
            raise SandboxError(f"Access denied: {path} is outside the workspace; allowed roots: {list(self.roots)}")
        for reserved in (self.state_dir, self.marker_path):
            if normal == reserved or normal.startswith(reserved + "/"):
                # The journals and the marker are how the workspace survives its sandbox: file tools keep off.
                raise SandboxError(f"Access denied: {path} is Dexa's workspace bookkeeping")
        return normal

    def _env(self, env: Mapping[str, str] | None) -> dict[str, str]:
        out = {"HOME": self.root, "LANG": "C.UTF-8", "TERM": "dumb", "PATH": _DEFAULT_PATH}
        for key, value in (env or {}).items():
            if _SECRET_ENV.search(key):
                logger.warning("not passing %s into the Modal sandbox: credentials never enter the workspace", key)
                continue
            out[str(key)] = str(value)
        return out

    def _job(self, job_id: str) -> str:
        return posixpath.join(self.state_dir, _job_dir_name(job_id))

    @staticmethod
    def _result(doc: Mapping[str, Any]) -> ExecResult:
        code = doc.get("exit_code")
        stderr = str(doc.get("stderr", ""))
        if doc.get("abandoned"):
            stderr += "\n[dexa: the command never started; it was abandoned after a crash]"
        elif code is None:
            stderr += "\n[dexa: the command was interrupted before it finished]"
        return ExecResult(
            exit_code=-1 if code is None else int(code),
            stdout=str(doc.get("stdout", "")),
            stderr=stderr,
            timed_out=bool(doc.get("timed_out")),
            cwd=str(doc.get("cwd", "")),
            duration_ms=int(doc.get("duration_ms", 0)),
        )

    # ------------------------------------------------------------ exec

    async def exec(
        self,
        command: str,
        *,
        cwd: str,
        timeout_s: float = 120.0,
        env: Mapping[str, str] | None = None,
        job_id: str | None = None,
        on_output: OutputSink | None = None,
        stdin: bytes | None = None,
    ) -> ExecResult:
        """Run `command` with bash in the sandbox; stdout streams to `on_output` (or the instance's) as it comes.

        Raises:
            SandboxError: cwd outside the workspace, or the sandbox could not be reached.
        """
        real_cwd = self.resolve(cwd)
        job = self._job(job_id or f"tmp-{uuid.uuid4().hex}")
        if stdin is not None:
            # The supervisor starts commands with no stdin; the payload waits on the volume (it survives a restart).
            feed = posixpath.join(self.control_dir, f"stdin-{uuid.uuid4().hex}")
            await self._fs("write_bytes", stdin, feed, path=feed)
            command = f"bash -c {shlex.quote(command)} < {feed}; __rc=$?; rm -f {feed}; exit $__rc"
        sink = on_output or self.on_output
        # One round trip: start, wait (the supervisor enforces timeout_s; the wait kills at a margin after it) and
        # collect; stdout streams to the sink, the result arrives on stderr.
        args = ("run", job, real_cwd, repr(float(timeout_s)), "1" if sink else "0", str(STREAM_CAP))
        try:
            code, _, err = await self._call(
                ("python3", "-c", RUNNER, *args, "0" if job_id else "1", command),
                env=self._env(env),
                timeout_s=timeout_s + 60,
                sink=sink if sink is not None else _discard,
            )
        except asyncio.CancelledError:
            # The turn was cancelled (or the step is giving up): the job is detached in the sandbox, so ending
            # this exec would leave it running. Kill its process group there before the cancellation goes on.
            await self._cancel_job(job)
            raise
        try:
            doc = json.loads(err[err.rfind('{"exists"') :] if '{"exists"' in err else err)
        except ValueError:
            raise SandboxError(f"sandbox job runner `run` failed with {code}: {err[-800:]}") from None
        return self._result(doc)

    async def _cancel_job(self, job: str) -> None:
        """Stop the job in the sandbox: claim it if it has not started (it never will), else kill its group."""
        try:
            await asyncio.shield(self._json("cancel", job, timeout_s=60))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the sandbox may be gone too: its processes died with it
            logger.warning("could not stop job %s in sandbox %s: %s", job, self.sandbox_name, exc)

    async def recover(self, job_id: str, *, wait_s: float = 600.0) -> ExecResult | None:
        job = self._job(job_id)
        doc = await self._json("collect", job, str(STREAM_CAP), "0")
        if not doc.get("exists") or doc.get("abandoned"):
            return None
        if not doc.get("started"):
            if (await self._json("abandon", job)).get("claimed"):
                return None
        if doc.get("exit_code") is None:
            await self._runner("wait", job, repr(float(wait_s)), "0", "1", timeout_s=wait_s + 60)
            doc = await self._json("collect", job, str(STREAM_CAP), "0")
        return self._result(doc)

    # ------------------------------------------------------------ background jobs

    def _background(self, job_id: str, doc: Mapping[str, Any]) -> BackgroundJob:
        if not doc.get("exists"):
            raise SandboxError(f"No background job with id {job_id!r}")
        return BackgroundJob(
            job_id=job_id,
            command=str(doc.get("command", "")),
            running=bool(doc.get("running")),
            exit_code=doc.get("exit_code"),
            output=str(doc.get("output", "")),
            output_offset=int(doc.get("offset", 0)),
        )

    async def start_background(self, command: str, *, cwd: str, job_id: str) -> BackgroundJob:
        job = self._job(job_id)
        await self._json("start", job, self.resolve(cwd), "0", "1", command, env=self._env(None))
        return await self.poll_background(job_id)

    async def poll_background(self, job_id: str, *, since: int = 0, wait_s: float = 0.0) -> BackgroundJob:
        job = self._job(job_id)
        if wait_s > 0:
            await self._runner("wait", job, repr(float(wait_s)), "0", "0", timeout_s=wait_s + 60)
        return self._background(job_id, await self._json("poll", job, str(max(0, since)), str(STREAM_CAP)))

    async def kill_background(self, job_id: str) -> BackgroundJob:
        return self._background(job_id, await self._json("kill", self._job(job_id), str(STREAM_CAP)))

    # ------------------------------------------------------------ files

    def _fs_error(self, exc: BaseException, path: str) -> OSError | None:
        name = type(exc).__name__
        if name == "SandboxFilesystemNotFoundError":
            return FileNotFoundError(2, "No such file or directory", path)
        if name == "SandboxFilesystemIsADirectoryError":
            return IsADirectoryError(21, "Is a directory", path)
        if name == "SandboxFilesystemNotADirectoryError":
            return NotADirectoryError(20, "Not a directory", path)
        if name == "SandboxFilesystemPermissionError":
            return PermissionError(13, "Permission denied", path)
        return None

    async def _fs(self, op: str, *args: Any, path: str, **kwargs: Any) -> Any:
        errors = self._modal().exception
        for attempt in (1, 2):
            sb = await self.sandbox()
            try:
                return await getattr(sb.filesystem, op).aio(*args, **kwargs)
            except errors.Error as exc:
                mapped = self._fs_error(exc, path)
                if mapped is not None:
                    raise mapped from exc
                self._sb = None
                if attempt == 2 or not await self._gone(sb):
                    raise SandboxError(f"Modal filesystem {op} {path}: {type(exc).__name__}: {exc}") from exc
        raise AssertionError("unreachable")

    async def read_bytes(self, path: str) -> bytes:
        real = self.resolve(path)
        return bytes(await self._fs("read_bytes", real, path=real))

    async def write_bytes(self, path: str, data: bytes) -> None:
        real = self.resolve(path)
        try:
            await self._fs("write_bytes", data, real, path=real)
        except FileNotFoundError:
            await self._fs("make_directory", posixpath.dirname(real), path=real, create_parents=True)
            await self._fs("write_bytes", data, real, path=real)

    async def _stat(self, path: str) -> Any | None:
        try:
            return await self._fs("stat", path, path=path)
        except FileNotFoundError:
            return None

    async def exists(self, path: str) -> bool:
        return await self._stat(self.resolve(path)) is not None

    async def is_dir(self, path: str) -> bool:
        info = await self._stat(self.resolve(path))
        return info is not None and getattr(info.type, "value", info.type) == "directory"

    async def mtime(self, path: str) -> float:
        """Modification time (an extension beyond the Workspace port; tools use it when present)."""
        info = await self._stat(self.resolve(path))
        if info is None:
            raise FileNotFoundError(2, "No such file or directory", path)
        return float(info.modified_time)

    async def remove(self, path: str) -> None:
        real = self.resolve(path)
        if real in self.roots:
            raise SandboxError(f"Refusing to remove the workspace root {path}")
        info = await self._stat(real)
        if info is None:
            raise FileNotFoundError(2, "No such file or directory", path)
        await self._fs("remove", real, path=real, recursive=getattr(info.type, "value", info.type) == "directory")

    async def walk(self, root: str) -> list[str]:
        real = self.resolve(root)
        control = self.control_dir
        find = ("find", real, "-path", control, "-prune", "-o", "-type", "f", "-print0")
        _, out, _ = await self._call(find, timeout_s=120)
        return [p for p in out.split("\x00") if p and self.contains(p)]
