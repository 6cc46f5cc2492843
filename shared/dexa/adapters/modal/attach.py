"""Finding, starting and restoring a session's sandbox on its volume; one exec with a retry when it has ended.

The attach protocol (ModalSandbox mixes this in):
    1. from_name: a running sandbox of the session (another Lambda's) is used as it is;
    2. else the record says whether the workspace existed: first use creates the volume and writes the marker;
       a later use requires the volume (hydrated) and the same marker on it, else `workspace_lost`;
    3. racing creators: AlreadyExistsError -> from_name, so one sandbox serves them all.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import posixpath
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from dexa.core.errors import ConfigError, SandboxError

from .durable import WorkspaceRecord, require_token
from .image import sandbox_image
from .runner import RUNNER

logger = logging.getLogger(__name__)

OutputSink = Callable[[str], Awaitable[None]]
EventSink = Callable[[str, Mapping[str, Any]], Awaitable[None]]
CONTROL_DIR = ".dexa"  # on the volume: the marker and the job journals (never walked, never checkpointed)
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


class SandboxAttach:
    """The sandbox half of ModalSandbox: state is set by ModalSandbox.__init__."""

    session_id: str
    root: str
    mount: str
    state_dir: str
    app_name: str
    volume_name: str
    environment_name: str | None
    network: bool
    cidr_allowlist: tuple[str, ...]
    domain_allowlist: tuple[str, ...]
    idle_timeout_s: int
    lifetime_s: int
    cpu: float | None
    memory_mb: int | None
    tags: dict[str, str]
    record: WorkspaceRecord
    restarts: int
    on_event: EventSink | None
    _extra_roots: tuple[str, ...]
    _token_env: Mapping[str, str] | None
    _image: Any
    _modal_module: Any
    _sb: Any
    _attach_locks: dict[int, asyncio.Lock]

    @property
    def marker_path(self) -> str:
        return posixpath.join(self.mount, CONTROL_DIR, "workspace.json")

    @property
    def control_dir(self) -> str:
        return posixpath.join(self.mount, CONTROL_DIR)

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
            if self.domain_allowlist:
                options["outbound_domain_allowlist"] = list(self.domain_allowlist)
            if not (self.cidr_allowlist or self.domain_allowlist):
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
