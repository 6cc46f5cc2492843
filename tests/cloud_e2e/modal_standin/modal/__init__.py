"""EMULATION of the `modal` package (not Modal): the subset Dexa calls, with modal 1.6.4's names and signatures.

Put this directory's parent first on PYTHONPATH and set MODAL_STANDIN_URL to a running stand-in server
(tests/cloud_e2e/modal_standin/server.py); `import modal` then reaches sandboxes emulated on this machine with
bubblewrap. Every method works directly and as `.aio`, like Modal's.
"""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from . import exception
from ._client import call, dual

__version__ = "1.6.4+standin"
EMULATION = True
_POLL_S = 5.0


class FileType(Enum):
    FILE = "file"
    DIRECTORY = "directory"
    SYMLINK = "symlink"


@dataclass(frozen=True)
class FileInfo:
    name: str
    path: str
    type: FileType
    size: int
    mode: int
    permissions: str
    owner: str
    group: str
    modified_time: float
    symlink_target: str | None

    def is_file(self) -> bool:
        return self.type == FileType.FILE

    def is_dir(self) -> bool:
        return self.type == FileType.DIRECTORY

    def is_symlink(self) -> bool:
        return self.type == FileType.SYMLINK


def _info(doc: dict[str, Any]) -> FileInfo:
    return FileInfo(**{**doc, "type": FileType(doc["type"])})


class App:
    def __init__(self, name: str, app_id: str) -> None:
        self.name, self.app_id = name, app_id

    @property
    def object_id(self) -> str:
        return self.app_id

    @dual
    @staticmethod
    def lookup(
        name: str, *, client: Any = None, environment_name: str | None = None, create_if_missing: bool = False
    ) -> App:
        doc = call("/v1/apps/lookup", {"name": name, "create_if_missing": create_if_missing})
        return App(name, doc["app_id"])


class Image:
    """Build steps are recorded, not run (sandboxes use this machine's toolchain); snapshots have an id."""

    def __init__(self, steps: tuple[tuple[str, Any], ...] = (), object_id: str | None = None) -> None:
        self.steps, self._object_id = steps, object_id

    @property
    def object_id(self) -> str | None:
        return self._object_id

    @staticmethod
    def debian_slim(python_version: str | None = None, force_build: bool = False) -> Image:
        return Image((("debian_slim", python_version),))

    @staticmethod
    def from_id(image_id: str, client: Any = None) -> Image:
        return Image((), image_id)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)

        def step(*args: Any, **kwargs: Any) -> Image:
            return Image((*self.steps, (name, (args, kwargs))), None)

        return step


class _VolumeManager:
    @dual
    def delete(
        self, name: str, *, allow_missing: bool = False, environment_name: str | None = None, client: Any = None
    ) -> None:
        try:
            Volume(name, False).hydrate()
        except exception.NotFoundError:
            if allow_missing:
                return
            raise
        call("/v1/volumes/delete", {"name": name})


class Volume:
    """Lazy, as in Modal: `from_name` only names the volume; `hydrate` (or use in Sandbox.create) resolves it."""

    objects = _VolumeManager()

    def __init__(self, name: str, create_if_missing: bool) -> None:
        self.name, self._create = name, create_if_missing
        self._object_id: str | None = None

    @property
    def object_id(self) -> str | None:
        return self._object_id

    @staticmethod
    def from_name(
        name: str,
        *,
        environment_name: str | None = None,
        create_if_missing: bool = False,
        version: Any = None,
        create_options: Any = None,
        client: Any = None,
    ) -> Volume:
        return Volume(name, create_if_missing)

    @dual
    def hydrate(self, client: Any = None) -> Volume:
        if self._object_id is None:
            doc = call("/v1/volumes/from_name", {"name": self.name, "create_if_missing": self._create})
            self._object_id = doc["volume_id"]
        return self

    @dual
    def commit(self) -> None:
        return None  # the stand-in's volumes are host directories: writes are visible at once

    @dual
    def reload(self) -> None:
        return None


class Secret:
    def __init__(self, env: dict[str, str | None]) -> None:
        self.env = env

    @staticmethod
    def from_dict(env_dict: dict[str, str | None] = {}) -> Secret:  # noqa: B006 - Modal's signature
        return Secret(dict(env_dict))


class StreamReader:
    def __init__(self, proc: ContainerProcess, stream: str) -> None:
        self._proc, self._stream, self._offset, self._eof = proc, stream, 0, False

    def _next(self, wait_s: float) -> bytes | None:
        if self._eof:
            return None
        doc = call(
            f"/v1/procs/{self._proc.proc_id}/read",
            {"stream": self._stream, "offset": self._offset, "wait_s": wait_s},
            timeout=wait_s + 60,
        )
        data = base64.b64decode(doc["data"])
        self._offset += len(data)
        self._eof = bool(doc["eof"])
        return data

    def _decode(self, data: bytes) -> Any:
        return data.decode(errors="replace") if self._proc.text else data

    @dual
    def read(self) -> Any:
        chunks: list[bytes] = []
        while (data := self._next(_POLL_S)) is not None:
            chunks.append(data)
        return self._decode(b"".join(chunks))

    def __iter__(self) -> Iterator[Any]:
        while (data := self._next(_POLL_S)) is not None:
            if data:
                yield self._decode(data)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._aiter()

    async def _aiter(self) -> AsyncIterator[Any]:
        import asyncio

        from ._client import _POOL

        loop = asyncio.get_running_loop()
        while (data := await loop.run_in_executor(_POOL, self._next, _POLL_S)) is not None:
            if data:
                yield self._decode(data)


class ContainerProcess:
    def __init__(self, proc_id: str, text: bool) -> None:
        self.proc_id, self.text = proc_id, text
        self._returncode: int | None = None
        self.stdout = StreamReader(self, "stdout")
        self.stderr = StreamReader(self, "stderr")

    @property
    def returncode(self) -> int | None:
        return self._returncode

    @dual
    def poll(self) -> int | None:
        self._returncode = call(f"/v1/procs/{self.proc_id}/wait", {"wait_s": 0})["returncode"]
        return self._returncode

    @dual
    def wait(self) -> int:
        while self._returncode is None:
            self._returncode = call(f"/v1/procs/{self.proc_id}/wait", {"wait_s": _POLL_S}, timeout=_POLL_S + 60)[
                "returncode"
            ]
        return self._returncode


class _Filesystem:
    def __init__(self, sandbox: Sandbox) -> None:
        self._sb = sandbox

    def _fs(self, fn: str, path: str, **extra: Any) -> dict[str, Any]:
        return call(f"/v1/sandboxes/{self._sb.object_id}/fs", {"fn": fn, "path": path, **extra})

    @dual
    def read_bytes(self, remote_path: str) -> bytes:
        return base64.b64decode(self._fs("read_bytes", remote_path)["data"])

    @dual
    def read_text(self, remote_path: str) -> str:
        return base64.b64decode(self._fs("read_bytes", remote_path)["data"]).decode()

    @dual
    def write_bytes(self, data: bytes | bytearray | memoryview, remote_path: str) -> None:
        self._fs("write_bytes", remote_path, data=base64.b64encode(bytes(data)).decode())

    @dual
    def write_text(self, data: str, remote_path: str) -> None:
        self._fs("write_bytes", remote_path, data=base64.b64encode(data.encode()).decode())

    @dual
    def stat(self, remote_path: str) -> FileInfo:
        return _info(self._fs("stat", remote_path)["info"])

    @dual
    def list_files(self, remote_path: str) -> list[FileInfo]:
        return [_info(d) for d in self._fs("list_files", remote_path)["infos"]]

    @dual
    def make_directory(self, remote_path: str, *, create_parents: bool = True) -> None:
        self._fs("make_directory", remote_path, create_parents=create_parents)

    @dual
    def remove(self, remote_path: str, *, recursive: bool = False) -> None:
        self._fs("remove", remote_path, recursive=recursive)


class Sandbox:
    def __init__(self, sandbox_id: str) -> None:
        self.object_id = sandbox_id
        self._returncode: int | None = None
        self._attached = True
        self.filesystem = _Filesystem(self)

    @property
    def returncode(self) -> int | None:
        return self._returncode

    @dual
    @staticmethod
    def create(
        *args: str,
        app: App | None = None,
        name: str | None = None,
        tags: dict[str, str] | None = None,
        image: Image | None = None,
        env: dict[str, str | None] | None = None,
        secrets: Sequence[Secret] | None = None,
        network_file_systems: dict[str, Any] = {},  # noqa: B006 - Modal's signature
        timeout: int | None = 300,
        idle_timeout: int | None = None,
        workdir: str | None = None,
        gpu: str | None = None,
        cloud: str | None = None,
        region: str | Sequence[str] | None = None,
        cpu: float | tuple[float, float] | None = None,
        memory: int | tuple[int, int] | None = None,
        runtime: str | None = None,
        block_network: bool = False,
        outbound_cidr_allowlist: Sequence[str] | None = None,
        outbound_domain_allowlist: Sequence[str] | None = None,
        _experimental_outbound_policy: Any = None,
        inbound_cidr_allowlist: Sequence[str] | None = None,
        volumes: dict[str, Volume] = {},  # noqa: B006 - Modal's signature
        pty: bool = False,
        encrypted_ports: Sequence[int] = [],
        h2_ports: Sequence[int] = [],
        unencrypted_ports: Sequence[int] = [],
        custom_domain: str | None = None,
        proxy: Any = None,
        include_oidc_identity_token: bool = False,
        readiness_probe: Any = None,
        verbose: bool = False,
        experimental_options: dict[str, Any] | None = None,
        _experimental_enable_snapshot: bool = False,
        _experimental_persistent: bool = False,
        client: Any = None,
        environment_name: str | None = None,
        pty_info: Any = None,
        cidr_allowlist: Sequence[str] | None = None,
    ) -> Sandbox:
        if app is None:
            raise exception.InvalidError("App must be provided (Modal stand-in)")
        merged: dict[str, str | None] = {}
        for secret in secrets or ():
            merged.update(secret.env)
        merged.update(env or {})
        for vol in volumes.values():
            vol.hydrate()  # Modal resolves (and creates, when asked) volumes as part of create
        body = {
            "app": app.name,
            "name": name,
            "tags": tags or {},
            "image": {"id": getattr(image, "object_id", None), "steps": repr(getattr(image, "steps", ()))[:2000]},
            "env": merged,
            "timeout": timeout,
            "idle_timeout": idle_timeout,
            "workdir": workdir,
            "block_network": block_network,
            "outbound_cidr_allowlist": list(outbound_cidr_allowlist or cidr_allowlist or []),
            "volumes": {str(path): vol.name for path, vol in volumes.items()},
        }
        return Sandbox(call("/v1/sandboxes/create", body, timeout=120)["sandbox_id"])

    @dual
    @staticmethod
    def from_name(
        app_name: str,
        name: str,
        *,
        environment_name: str | None = None,
        include_terminated: bool = False,
        client: Any = None,
    ) -> Sandbox:
        return Sandbox(call("/v1/sandboxes/from_name", {"app_name": app_name, "name": name})["sandbox_id"])

    @dual
    @staticmethod
    def from_id(sandbox_id: str, client: Any = None) -> Sandbox:
        doc = call("/v1/sandboxes/from_id", {"sandbox_id": sandbox_id})
        sb = Sandbox(doc["sandbox_id"])
        sb._returncode = doc["returncode"]
        return sb

    @dual
    @staticmethod
    def list(*, app_id: str | None = None, tags: dict[str, str] | None = None, client: Any = None) -> list[Sandbox]:
        return [
            Sandbox(d["sandbox_id"]) for d in call("/v1/sandboxes/list", {"app_id": app_id, "tags": tags})["sandboxes"]
        ]

    def _ensure_attached(self) -> None:
        if not self._attached:
            raise exception.ClientClosed("Unable to perform operation on a detached sandbox")

    @dual
    def exec(
        self,
        *args: str,
        stdout: Any = None,
        stderr: Any = None,
        timeout: int | None = None,
        workdir: str | None = None,
        env: dict[str, str | None] | None = None,
        secrets: Sequence[Secret] | None = None,
        text: bool = True,
        bufsize: int = -1,
        pty: bool = False,
        _pty_info: Any = None,
        pty_info: Any = None,
    ) -> ContainerProcess:
        self._ensure_attached()
        merged: dict[str, str | None] = {}
        for secret in secrets or ():
            merged.update(secret.env)
        merged.update(env or {})
        body = {"args": list(args), "env": merged, "timeout": timeout, "workdir": workdir}
        return ContainerProcess(call(f"/v1/sandboxes/{self.object_id}/exec", body)["proc_id"], text)

    @dual
    def terminate(self, *, wait: bool = False) -> int | None:
        self._ensure_attached()
        call(f"/v1/sandboxes/{self.object_id}/terminate")
        return self.wait(raise_on_termination=False) if wait else None

    @dual
    def poll(self) -> int | None:
        self._ensure_attached()
        self._returncode = call(f"/v1/sandboxes/{self.object_id}/poll")["returncode"]
        return self._returncode

    @dual
    def wait(self, raise_on_termination: bool = True) -> int | None:
        while (code := call(f"/v1/sandboxes/{self.object_id}/poll")["returncode"]) is None:
            time.sleep(0.2)
        self._returncode = code
        if raise_on_termination and code != 0:
            raise exception.SandboxTerminatedError(f"Sandbox {self.object_id} terminated")
        return code

    @dual
    def detach(self) -> None:
        self._attached = False

    @dual
    def snapshot_filesystem(self, timeout: int = 55, *, ttl: int | None = 2592000) -> Image:
        self._ensure_attached()
        return Image((), call(f"/v1/sandboxes/{self.object_id}/snapshot_filesystem", timeout=timeout + 60)["image_id"])

    @dual
    def reload_volumes(self, *, timeout: int = 55) -> None:
        self._ensure_attached()

    @dual
    def set_tags(self, tags: dict[str, str], *, client: Any = None) -> None:
        call(f"/v1/sandboxes/{self.object_id}/set_tags", {"tags": tags})

    @dual
    def get_tags(self) -> dict[str, str]:
        return dict(call(f"/v1/sandboxes/{self.object_id}/describe")["tags"])


__all__ = ["App", "ContainerProcess", "FileInfo", "FileType", "Image", "Sandbox", "Secret", "Volume", "exception"]
