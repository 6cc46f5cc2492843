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
import importlib
import json
import logging
import os
import posixpath
import re
import shlex
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from dexa.core.errors import ConfigError, SandboxError
from dexa.core.ports import BackgroundJob, ExecResult

from .durable import MemoryWorkspaceRecord, WorkspaceRecord, require_token, volume_name
from .image import APP_NAME, WORKDIR, sandbox_image
from .runner import RUNNER
from .tree import TreeOps

logger = logging.getLogger(__name__)

OutputSink = Callable[[str], Awaitable[None]]
EventSink = Callable[[str, Mapping[str, Any]], Awaitable[None]]
CONTROL_DIR = ".dexa"  # on the volume: the marker and the job journals (never walked, never checkpointed)
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


class ModalSandbox(TreeOps):
    """A session's isolated workspace on Modal. Construct cheaply; the sandbox is found or created on first use.

    Args:
        session_id: names the sandbox (`dexa-<session_id>`), so every Lambda of the session shares it.
        network: full outbound network. Otherwise blocked, unless `cidr_allowlist` names reachable ranges.
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

    @property
    def marker_path(self) -> str:
        return posixpath.join(self.mount, CONTROL_DIR, "workspace.json")

    @property
    def control_dir(self) -> str:
        return posixpath.join(self.mount, CONTROL_DIR)

    # ------------------------------------------------------------ the sandbox

    @property
    def extra_roots(self) -> tuple[str, ...]:
        return self._extra_roots

    @property
    def roots(self) -> tuple[str, ...]:
        return (self.root, *self._extra_roots)

    @property
    def sandbox_name(self) -> str:
        return ("dexa-" + _SAFE.sub("-", self.session_id))[:64]

    def _modal(self) -> Any:
        if self._modal_module is None:
            require_token(os.environ if self._token_env is None else self._token_env)
            self._modal_module = importlib.import_module("modal")
        return self._modal_module

    def create_options(self) -> dict[str, Any]:
        """Sandbox.create keyword arguments (besides app, image and volumes): isolation policy in one place."""
        options: dict[str, Any] = {
            "name": self.sandbox_name,
            "tags": self.tags,
            "timeout": self.lifetime_s,
            "idle_timeout": self.idle_timeout_s,
            "workdir": self.mount,  # always exists (the volume's mount point); commands chdir to their cwd
            "secrets": [],
            "env": {},
        }
        if self.environment_name is not None:
            options["environment_name"] = self.environment_name
        if self.cpu is not None:
            options["cpu"] = self.cpu
        if self.memory_mb is not None:
            options["memory"] = self.memory_mb
        if not self.network:
            if self.cidr_allowlist:
                options["outbound_cidr_allowlist"] = list(self.cidr_allowlist)
            else:
                options["block_network"] = True
        return options

    async def sandbox(self) -> Any:
        """The session's running sandbox: attach to it, or start one on the session's volume (a restore when the
        record says the workspace existed before). Concurrent creators in other Lambdas share one sandbox.

        Raises:
            ConfigError: no Modal token (names the secret to set).
            SandboxError: Modal unreachable, or the workspace's files are lost (code "workspace_lost").
        """
        if self._sb is not None:
            return self._sb
        # One lock per event loop: a warm Lambda may run each invocation on a new loop with this same handle.
        loop_id = id(asyncio.get_running_loop())
        lock = self._attach_locks.get(loop_id)
        if lock is None:
            self._attach_locks = {loop_id: (lock := asyncio.Lock())}
        async with lock:
            if self._sb is None:
                self._sb = await self._attach()
            return self._sb

    async def _from_name(self) -> Any | None:
        modal = self._modal()
        try:
            return await modal.Sandbox.from_name.aio(
                self.app_name, self.sandbox_name, environment_name=self.environment_name
            )
        except modal.exception.NotFoundError:
            return None

    async def _attach(self) -> Any:
        modal = self._modal()
        errors = modal.exception
        try:
            running = await self._from_name()
            if running is not None:
                return running
            record = await self.record.load()
            volume = await self._volume(create=record is None)
            app = await modal.App.lookup.aio(
                self.app_name, create_if_missing=True, environment_name=self.environment_name
            )
            image = self._image if self._image is not None else sandbox_image(modal)
            try:
                sb = await modal.Sandbox.create.aio(
                    app=app, image=image, volumes={self.mount: volume}, **self.create_options()
                )
            except errors.AlreadyExistsError:
                again = await self._from_name()
                if again is None:
                    raise SandboxError(f"Modal sandbox {self.sandbox_name} exists but cannot be attached") from None
                return again
            await self._check_marker(sb, record)
            return sb
        except errors.AuthError as exc:
            raise ConfigError(f"Modal rejected the token: {exc}; check MODAL_TOKEN_ID/MODAL_TOKEN_SECRET") from exc
        except errors.Error as exc:
            raise SandboxError(f"Modal sandbox {self.sandbox_name}: {type(exc).__name__}: {exc}") from exc

    async def _volume(self, *, create: bool) -> Any:
        modal = self._modal()
        # Volume.from_name is lazy (no `.aio` in modal 1.6): hydrate now, so a missing volume is known before a
        # sandbox is created on it.
        volume = modal.Volume.from_name(
            self.volume_name, create_if_missing=create, environment_name=self.environment_name
        )
        try:
            await volume.hydrate.aio()
            return volume
        except modal.exception.NotFoundError:
            raise await self._lost(f"its volume {self.volume_name} no longer exists") from None

    async def _check_marker(self, sb: Any, record: Mapping[str, Any] | None) -> None:
        """First sandbox: write the marker and remember it. Later ones: the volume must hold the same marker."""
        nonce = uuid.uuid4().hex if record is None else str(record.get("nonce", ""))
        dirs = [self.root, *self._extra_roots, self.state_dir]
        doc = await self._json_on(sb, "init", self.marker_path, nonce, "1" if record is None else "0", *dirs)
        found = doc.get("nonce")
        if record is None:
            await self.record.save(
                {"volume": self.volume_name, "nonce": found, "created_at": time.time(), "restarts": 0}
            )
            logger.info("created Modal sandbox %s on volume %s", self.sandbox_name, self.volume_name)
            return
        if found != record.get("nonce"):
            await self._terminate_quietly(sb)
            raise await self._lost(f"the volume {self.volume_name} does not hold this session's workspace marker")
        self.restarts += 1
        await self.record.save({**record, "restarts": int(record.get("restarts", 0)) + 1, "restored_at": time.time()})
        logger.info("restored Modal sandbox %s from volume %s", self.sandbox_name, self.volume_name)
        await self._event(
            "warning",
            {
                "code": "workspace_restored",
                "message": f"the workspace sandbox had ended (idle timeout or lifetime); a new one was started on "
                f"the session's volume {self.volume_name} with its files",
            },
        )

    async def _lost(self, why: str) -> SandboxError:
        message = (
            f"the workspace of session {self.session_id} cannot be restored: {why}. Its files are gone; Dexa will "
            "not continue in an empty workspace (start a new session, or rewind code from a checkpoint)"
        )
        await self._event("error", {"code": "workspace_lost", "message": message})
        return SandboxError(message, code="workspace_lost")

    async def _event(self, type_: str, data: Mapping[str, Any]) -> None:
        if self.on_event is not None:
            try:
                await self.on_event(type_, data)
            except Exception:  # an event sink failing must not hide the workspace's own state
                logger.exception("could not emit %s for session %s", type_, self.session_id)

    async def _terminate_quietly(self, sb: Any) -> None:
        try:
            await sb.terminate.aio()
        except Exception as exc:  # best effort: the sandbox idles out anyway
            logger.warning("could not terminate sandbox %s: %s", self.sandbox_name, exc)

    async def _exec_on(
        self,
        sb: Any,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None,
        timeout_s: float | None,
        sink: OutputSink | None,
    ) -> tuple[int, str, str]:
        proc = await sb.exec.aio(
            *args, env=dict(env or {}), timeout=None if timeout_s is None else max(1, int(timeout_s))
        )
        chunks: list[str] = []
        async for chunk in proc.stdout:
            if sink is not None:
                await sink(chunk)
            else:
                chunks.append(chunk)
        err = await proc.stderr.read.aio()
        code = await proc.wait.aio()
        return code, "".join(chunks), str(err)

    async def _call(
        self,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
        sink: OutputSink | None = None,
    ) -> tuple[int, str, str]:
        """One exec; when the sandbox has ended meanwhile, attach again (restoring from the volume) and retry once.

        Retrying is safe: runner modes are reads or O_EXCL claims on the volume, so nothing runs twice."""
        errors = self._modal().exception
        for attempt in (1, 2):
            sb = await self.sandbox()
            try:
                result = await self._exec_on(sb, args, env=env, timeout_s=timeout_s, sink=sink)
                if result[0] == 0 or attempt == 2 or not await self._gone(sb):
                    return result
                self._sb = None  # the sandbox ended under the exec (idle timeout, lifetime): go on in a new one
                logger.info("sandbox %s ended during an exec; attaching again", self.sandbox_name)
                continue
            except errors.Error as exc:
                self._sb = None
                if attempt == 2 or not await self._gone(sb):
                    raise SandboxError(f"Modal sandbox {self.sandbox_name}: {type(exc).__name__}: {exc}") from exc
                logger.info("sandbox %s ended (%s); attaching again", self.sandbox_name, type(exc).__name__)
        raise AssertionError("unreachable")

    async def _gone(self, sb: Any) -> bool:
        """Has this sandbox ended (so a new one on the volume is the way on)?"""
        try:
            return await sb.poll.aio() is not None
        except Exception:
            return True

    async def _runner(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
        sink: OutputSink | None = None,
    ) -> str:
        code, out, err = await self._call(("python3", "-c", RUNNER, *args), env=env, timeout_s=timeout_s, sink=sink)
        if code != 0:
            raise SandboxError(f"sandbox job runner `{args[0]}` failed with {code}: {err[-800:]}")
        return out

    async def _json(self, *args: str, **kwargs: Any) -> dict[str, Any]:
        return json.loads(await self._runner(*args, **kwargs) or "{}")

    async def _json_on(self, sb: Any, *args: str) -> dict[str, Any]:
        code, out, err = await self._exec_on(sb, ("python3", "-c", RUNNER, *args), env=None, timeout_s=120, sink=None)
        if code != 0:
            raise SandboxError(f"sandbox job runner `{args[0]}` failed with {code}: {err[-800:]}")
        return json.loads(out or "{}")

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
        code, _, err = await self._call(
            ("python3", "-c", RUNNER, *args, "0" if job_id else "1", command),
            env=self._env(env),
            timeout_s=timeout_s + 60,
            sink=sink if sink is not None else _discard,
        )
        try:
            doc = json.loads(err[err.rfind('{"exists"') :] if '{"exists"' in err else err)
        except ValueError:
            raise SandboxError(f"sandbox job runner `run` failed with {code}: {err[-800:]}") from None
        return self._result(doc)

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

    # ------------------------------------------------------------ lifecycle

    async def close(self) -> None:
        """Let go of the handle; the sandbox keeps running for the session's next Lambda (terminate ends it)."""
        sb, self._sb = self._sb, None
        detach = getattr(sb, "detach", None)
        if detach is not None:
            await detach.aio()

    async def terminate(self) -> None:
        """End the session's sandbox (session end). Idempotent. The volume stays: a later use restores from it
        (deleting volumes of ended sessions is retention's job, not this call's)."""
        sb = await self._from_name()
        if sb is None:
            self._sb = None
            return
        await sb.terminate.aio()
        self._sb = None
        logger.info("terminated Modal sandbox %s", self.sandbox_name)

    async def destroy(self) -> None:
        """End the sandbox and delete the session's volume: its files are gone for good (session purge).
        Idempotent."""
        await self.terminate()
        modal = self._modal()
        await modal.Volume.objects.delete.aio(
            self.volume_name, allow_missing=True, environment_name=self.environment_name
        )
        logger.info("deleted the workspace volume %s of session %s", self.volume_name, self.session_id)
